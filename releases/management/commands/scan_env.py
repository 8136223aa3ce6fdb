"""Django's entry to the scan_env command (used by call_command and `manage.py help`).

`manage.py scan_env` itself is dispatched before Django starts (see manage.py and
releases.scanning.cli); this wrapper runs the same code over Django's connection.
"""
import sys

from django.core.management.base import BaseCommand

from releases.scanning import cli


class Command(BaseCommand):
    help = "Scan conda.yaml / requirements.txt / python_env.yaml files against the advisory database."
    requires_system_checks = []

    def run_from_argv(self, argv):
        sys.exit(self.execute_argv(argv[2:]))

    def execute_argv(self, args: list[str]) -> int:
        from releases.scanning.store import DatabaseAdvisoryStore

        return cli.main(args, store=DatabaseAdvisoryStore(use_cache=False), stdout=self.stdout, stderr=self.stderr)

    def handle(self, *args, **options):  # call_command("scan_env", "a.txt", "--json")
        return str(self.execute_argv(list(args)))

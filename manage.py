#!/usr/bin/env python
"""Django's command-line utility for the Model Release Gateway."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
    if sys.argv[1:2] == ["scan_env"]:
        # A pre-flight command for CI scripts: it must start fast, so it runs
        # without setting Django up (see releases/scanning/cli.py).
        from gateway_project.defaults import database_url
        from releases.scanning.cli import main as scan_env

        sys.exit(scan_env(sys.argv[2:], database_url=database_url()))
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

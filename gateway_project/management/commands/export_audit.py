"""`manage.py export_audit --since DATE --until DATE [--format csv|json] [--output FILE]`.

The compliance export (gateway_project/audit/export.py) of the releases requested in
[since, until): since inclusive, until exclusive. A date is its midnight UTC; a date and time
without a zone is UTC. Streams to FILE (written whole or not at all: a temporary file renamed
at the end) or to standard output.
"""
import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from gateway_project.audit import export


class Command(BaseCommand):
    help = "Export releases with their decisions, approvals and digests for a date range (CSV or JSON)."

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="first instant included (ISO 8601 date or date-time)")
        parser.add_argument("--until", required=True, help="first instant excluded (ISO 8601 date or date-time)")
        parser.add_argument("--format", choices=sorted(export.FORMATS), default="csv")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args, since, until, format, output, **options):
        try:
            start, end = export.parse_bound(since), export.parse_bound(until)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if end <= start:
            raise CommandError("--until must be after --since.")
        chunks = export.stream(export.releases_between(start, end), format)
        if not output:
            for chunk in chunks:
                self.stdout.write(chunk, ending="")
            return
        target = Path(output)
        handle, temporary = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
                file.writelines(chunks)
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
        self.stderr.write(f"Wrote {target}.")

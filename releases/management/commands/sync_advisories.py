from django.core.management.base import BaseCommand, CommandError

from releases.jobs import after_advisory_sync
from releases.scanning.sync import sync_advisories


class Command(BaseCommand):
    help = "Import OSV advisories from a directory of YAML/JSON files (any depth) or an OSV export zip."

    def add_arguments(self, parser):
        parser.add_argument("source", help="directory or .zip")
        parser.add_argument("--replace", action="store_true",
                            help="remove stored advisories the source lacks even when it is smaller than them")

    def handle(self, *args, source, replace=False, **options):
        sync = sync_advisories(source, progress_stream=self.stderr._out, replace=replace)
        for error in sync.errors[:20]:
            self.stderr.write(f"skipped {error['file']}: {error['error']}")
        if len(sync.errors) > 20:
            self.stderr.write(f"... and {len(sync.errors) - 20} more (see sync #{sync.pk} in admin)")
        line = (f"sync #{sync.pk} {sync.outcome}: {sync.files_seen} files, {sync.created} created, "
                f"{sync.updated} updated, {sync.unchanged} unchanged, {sync.withdrawn} withdrawn, "
                f"{sync.failed} failed, {sync.removed} removed, {sync.duration_seconds:.1f} s")
        if sync.outcome != sync.Outcome.SUCCEEDED:
            raise CommandError(line)
        after_advisory_sync(sync)
        self.stdout.write(line)
        self._report_removal(sync)

    def _report_removal(self, sync):
        if sync.removed:
            more = sync.removed - len(sync.removed_ids)
            self.stdout.write(f"removed {sync.removed} advisories absent from {sync.source}: "
                              f"{', '.join(sync.removed_ids)}" + (f" and {more} more" if more else ""))
        if sync.absent_kept:
            self.stderr.write(f"kept {sync.absent_kept} advisories absent from {sync.source}: "
                              f"{sync.absent_kept_reason}")

"""verify_audit_log [--release N ...] [--anchors FILE]: recompute every audit chain.

Prints each release's first broken link (release, sequence, event, what is wrong) and exits 1, or
prints OK with the counts and exits 0. Reads the log in chunks (releases.audit_chain), so memory
does not grow with it. --anchors takes chain heads recorded elsewhere (a signed attestation's, or
an earlier `chain_heads` output) as JSON {"<release id>": {"sequence": n, "hash": "<hex>"}}: a chain
rewritten from its first edit onwards still has to pass through them.
"""
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from releases.audit_chain import Verification
from releases.models import Release

MAX_ANCHORS_BYTES = 64 * 1024 * 1024
ANCHORS_SHAPE = '{"<release id>": {"sequence": n, "hash": "<hex>"}}'


class Command(BaseCommand):
    help = "Recompute the audit log's hash chains; exit 1 at the first broken link of any release."

    def add_arguments(self, parser):
        parser.add_argument("--release", type=int, action="append", dest="releases", metavar="N",
                            help="only this release (repeatable)")
        parser.add_argument("--anchors", type=Path, metavar="FILE", help="JSON chain heads the log must still match")

    def handle(self, *args, releases=None, anchors=None, **options):
        if releases:
            unknown = set(releases) - set(Release.objects.filter(pk__in=releases).values_list("pk", flat=True))
            if unknown:
                raise CommandError(f"No such release: {', '.join(map(str, sorted(unknown)))}.")
        check = Verification(release_ids=releases, anchors=_read_anchors(anchors) if anchors else None)
        problems = 0
        # In a transaction, PostgreSQL streams the server-side cursor instead of materializing a
        # WITH HOLD copy of the whole log first.
        with transaction.atomic():
            for problem in check.problems():
                problems += 1
                self.stdout.write(str(problem))
        counted = f"{check.releases} releases, {check.events} events"
        if problems:
            raise CommandError(f"FAILED: {problems} broken (at most one per release); checked {counted}.",
                               returncode=1)
        anchored = f", {len(check.anchors)} anchored heads matched" if check.anchors else ""
        self.stdout.write(f"OK: {counted}, every chain intact{anchored}.")


def _read_anchors(path: Path) -> dict[int, dict]:
    try:
        if path.stat().st_size > MAX_ANCHORS_BYTES:
            raise CommandError(f"{path} is larger than {MAX_ANCHORS_BYTES} bytes.")
        raw = json.loads(path.read_text(encoding="utf-8"))
        anchors = {int(release): {"sequence": int(head["sequence"]), "hash": str(head["hash"])}
                   for release, head in raw.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CommandError(f"{path}: not chain heads ({ANCHORS_SHAPE}): {exc}") from None
    return anchors

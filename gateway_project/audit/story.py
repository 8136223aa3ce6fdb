"""A release's whole story for its admin page: timeline, scan, decision, approvals, builds, evidence.

Everything a user can make large is cut (a release can have 10,000 events, a report 5,000 findings
and as many blocking reasons): each list holds at most LIMIT items, newest or most severe first,
with its full count and the admin list that shows all of it. The decision is the stored one, as the
scan step decided it (releases.scanning.decision); nothing here decides again.
"""
from dataclasses import dataclass, field

from django.urls import reverse

from approvals.engine import ApprovalState, approval_state
from approvals.models import ApprovalDecision
from releases.evidence.dsse import Verification
from releases.evidence.stored import verify_stored
from releases.models import Build, Release, ReleaseEvent, ReleaseEvidence, ScanReport
from releases.record_admin import SUMMARY_FINDINGS, findings_url, most_severe
from releases.scanning import severity

LIMIT = 50
DETAIL_CHARS = 500  # of one value of an event's data
# The decision's lists, in the order an auditor reads them, and what each means.
REASONS = [("unreadable", "Could not be read (blocks in every environment)"), ("blocking", "Blocking"),
           ("gates", "Gates"), ("warnings", "Warnings"), ("waived", "Waived"), ("ignored", "Ignored")]


@dataclass
class Reasons:
    key: str
    title: str
    items: list[dict]
    count: int


@dataclass
class Moment:
    """One event of the timeline: its data as (key, text) pairs, and the staff-only detail apart."""

    event: ReleaseEvent
    details: list[tuple[str, str]]
    staff_detail: str

    @classmethod
    def of(cls, event: ReleaseEvent) -> "Moment":
        data = event.data if isinstance(event.data, dict) else {"data": event.data}
        details = [(str(key), str(value)[:DETAIL_CHARS]) for key, value in data.items()
                   if key != ReleaseEvent.STAFF_DETAIL]
        return cls(event, details[:LIMIT], str(data.get(ReleaseEvent.STAFF_DETAIL, ""))[:DETAIL_CHARS])


@dataclass
class Story:
    release: Release
    events: list[Moment]  # newest first
    events_count: int
    report: ScanReport | None
    severities: list[tuple[str, int, int]] = field(default_factory=list)  # (level, definite, possible)
    reasons: list[Reasons] = field(default_factory=list)
    findings: list = field(default_factory=list)
    findings_count: int = 0
    findings_url: str = ""
    approvals: list[ApprovalDecision] = field(default_factory=list)
    approvals_count: int = 0
    approval_state: ApprovalState | None = None
    builds: list[Build] = field(default_factory=list)
    builds_count: int = 0
    evidence: "Evidence | None" = None

    # The admin lists of all of it, filtered to this release (releases/admin.py: the "release" text filters).
    @property
    def events_url(self) -> str:
        return f"{reverse('admin:releases_releaseevent_changelist')}?release={self.release.pk}"

    @property
    def approvals_url(self) -> str:
        return f"{reverse('admin:approvals_approvaldecision_changelist')}?release={self.release.pk}"

    @property
    def builds_url(self) -> str:
        return f"{reverse('admin:releases_build_changelist')}?release={self.release.pk}"


def tell(release: Release) -> Story:
    events = release.events.select_related("actor").order_by("-created_at", "-id")
    story = Story(release=release, events=[Moment.of(e) for e in events[:LIMIT]], events_count=release.events.count(),
                  report=ScanReport.objects.defer("raw_output", "dependencies").latest_for(release))
    if story.report is not None:
        _scan(story, story.report)
    decisions = ApprovalDecision.objects.filter(release=release).select_related("user", "stage")
    story.approvals = list(decisions.order_by("-created_at", "-id")[:LIMIT])
    story.approvals_count = decisions.count()
    story.approval_state = approval_state(release)
    story.builds = list(Build.objects.filter(release=release).select_related("source_build")
                        .order_by("-started_at", "-id")[:LIMIT])
    story.builds_count = Build.objects.filter(release=release).count()
    story.evidence = evidence(release)
    return story


def _scan(story: Story, report: ScanReport) -> None:
    story.severities = [(level.value, int(report.counts.get(level.value, 0)),
                         int(report.possible_counts.get(level.value, 0))) for level in severity.ORDER]
    decision = report.decision or {}
    story.reasons = [Reasons(key, title, [_reason(item) for item in list(decision.get(key) or [])[:LIMIT]],
                             len(decision.get(key) or [])) for key, title in REASONS if decision.get(key)]
    story.findings = most_severe(report.pk, SUMMARY_FINDINGS)
    story.findings_count = report.findings.count()
    story.findings_url = findings_url(report.pk)


def _reason(item) -> dict:
    """One entry of a stored decision list, with every column the page shows (entries differ in keys)."""
    item = item if isinstance(item, dict) else {"reason": str(item)}
    text = {key: str(item.get(key) or "") for key in ("package", "version", "specifier", "advisory_id", "severity",
                                                      "where", "reason", "name", "message")}
    return {"package": text["package"] or text["name"], "version": text["version"] or text["specifier"],
            "advisory_id": text["advisory_id"], "severity": text["severity"], "where": text["where"],
            "reason": text["reason"] or text["message"]}


@dataclass
class Evidence:
    record: ReleaseEvidence
    verification: Verification

    @property
    def subject_matches(self) -> bool:
        return self.record.subject_digest == self.record.release.image_digest


def evidence(release: Release) -> Evidence | None:
    """The stored attestation, verified again on every view (releases.evidence.stored: the signature,
    the release's digest and the record it names); None when the release has none."""
    record = ReleaseEvidence.objects.defer("sbom").latest_for(release.pk)  # the newest, as verify_stored reads
    if record is None:
        return None
    record.release = release
    return Evidence(record, verify_stored(release))

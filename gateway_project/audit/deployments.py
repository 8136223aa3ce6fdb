"""What version of each model was in each environment at a given moment, answered from the record.

The rule, in one place:
- A release's version arrives in its environment at the release's SUCCEEDED event (the event
  that moved it to SUCCEEDED; later events of a SUCCEEDED release, such as an alias set, are not
  arrivals). SUCCEEDED is terminal, so a release arrives at most once.
- It stays there until the next release of the same model arrives in the same environment
  (whatever its version: a re-release of an older version is a rollback and replaces it too).
- A later release that does not reach SUCCEEDED (FAILED, BUILD_FAILED, SCAN_FAILED, REJECTED,
  CANCELLED, or still in progress) changes nothing: the gateway never deployed it.
- An instant is compared with `<=`: at the exact instant of the SUCCEEDED event, the new
  version is already the one deployed.

Bounded: one row per (environment, model); `deployed_at` returns at most `limit` of them, the
API pages through them. The rows come from one query, their approvals from one more.
"""
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber
from django.utils.dateparse import parse_datetime

from approvals.models import ApprovalDecision
from releases.models import Release, ReleaseEvent, ScanReport
from releases.statuses import Status

MAX_ROWS = 500


@dataclass(frozen=True)
class Deployment:
    environment: str
    model_name: str
    model_version: str
    release_id: int
    image_reference: str
    image_digest: str
    since: datetime
    requested_by: str
    approvals: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"environment": self.environment, "model_name": self.model_name, "model_version": self.model_version,
                "release_id": self.release_id, "image_reference": self.image_reference,
                "image_digest": self.image_digest, "since": self.since, "requested_by": self.requested_by,
                "approvals": self.approvals}


def parse_instant(raw: str) -> datetime:
    """An ISO 8601 instant with a time zone, in UTC (ValueError otherwise: without a zone it is ambiguous).
    Out of range once in UTC (year 1 at +01:00): the first or last instant there is, which answers the
    same (before or after every release)."""
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ValueError("An ISO 8601 date and time with a time zone, e.g. 2026-11-30T12:00:00Z.")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


def arrival_events() -> QuerySet:
    """The SUCCEEDED event of each release that has one (its arrival in its environment)."""
    return ReleaseEvent.objects.filter(to_status=Status.SUCCEEDED).exclude(from_status=Status.SUCCEEDED)


def current_releases(at: datetime, environment: str | None = None, model: str | None = None) -> QuerySet:
    """The release deployed at `at` for each (environment, model), ordered by environment then model.

    Annotated with `arrived_at`. A window function picks the newest arrival per (environment,
    model), so the answer is one query however many releases there were before `at`.
    """
    arrived = arrival_events().filter(release=OuterRef("pk")).order_by("created_at", "id").values("created_at")[:1]
    releases = Release.objects.filter(status=Status.SUCCEEDED)
    if environment is not None:
        releases = releases.filter(environment__name=environment)
    if model is not None:
        releases = releases.filter(model_name=model)
    newest_first = Window(RowNumber(), partition_by=[F("environment_id"), F("model_name")],
                          order_by=[F("arrived_at").desc(), F("id").desc()])
    return (releases.annotate(arrived_at=Subquery(arrived)).filter(arrived_at__lte=at)
            .annotate(newest=newest_first).filter(newest=1)
            .select_related("environment", "requested_by")
            .order_by("environment__order", "environment__name", "model_name"))


def describe(releases: list[Release]) -> list[Deployment]:
    """Deployments for already-loaded current releases, with the approvals that let each through:
    the approving decisions bound to its latest scan report (earlier ones were voided)."""
    latest = ScanReport.objects.latest_per_release().filter(release_id__in=[r.pk for r in releases])
    approvals: dict[int, list[dict]] = {r.pk: [] for r in releases}
    decisions = (ApprovalDecision.objects.filter(Q(approved=True), scan_report__in=latest.values("pk"))
                 .select_related("user", "stage").order_by("created_at", "id"))
    for decision in decisions:
        approvals[decision.release_id].append({
            "user": decision.user.get_username(), "stage": decision.stage.name, "at": decision.created_at,
            "self_approval": decision.self_approval, "scan_report_id": decision.scan_report_id})
    return [Deployment(environment=r.environment.name, model_name=r.model_name, model_version=r.model_version,
                       release_id=r.pk, image_reference=r.image_reference, image_digest=r.image_digest,
                       since=r.arrived_at, requested_by=r.requested_by.get_username(), approvals=approvals[r.pk])
            for r in releases]


def deployed_at(at: datetime, environment: str | None = None, model: str | None = None,
                limit: int = MAX_ROWS) -> list[Deployment]:
    """At most `limit` deployments (environment order, then model name) in place at `at`."""
    return describe(list(current_releases(at, environment, model)[:limit]))

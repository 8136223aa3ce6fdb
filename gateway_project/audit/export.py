"""Compliance export: releases with their decisions, approvals, digests and attestation digests.

One row per release, oldest first, for the releases requested in [since, until): `since`
inclusive, `until` exclusive, both instants (a date means its midnight UTC), so consecutive
ranges never share or miss a release. Rows are streamed: releases are read CHUNK at a time,
with a fixed number of queries per chunk for what belongs to them, so memory does not grow with
the range.

CSV: lists and objects (counts, approvals, build digests) are JSON text in their cell. A cell
that a spreadsheet would run as a formula (it starts with = + - @, a tab or a carriage return)
is prefixed with a single quote, and so is a cell that starts with a quote, so `restore` undoes
it exactly: drop one leading quote, if there is one.
"""
import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time

from approvals.models import ApprovalDecision
from gateway_project.audit.deployments import arrival_events
from releases.models import Build, Release, ReleaseEvidence, ScanReport

CHUNK = 200
COLUMNS = ["release_id", "model_name", "requested_ref", "model_version", "environment", "status",
           "requested_by", "requested_at", "succeeded_at", "mlflow_run_id", "image_reference", "image_digest",
           "build_digests", "scan_report_id", "scan_passed", "policy_version", "decision_summary",
           "blocking_count", "counts", "approvals", "attestation_digest"]
STRUCTURED = {"build_digests", "counts", "approvals"}  # JSON text in a CSV cell
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def parse_bound(text: str) -> datetime:
    """A date (its midnight UTC) or an ISO 8601 date and time (UTC when it names no zone)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or date and time.") from None
    if len(text) == 10:  # a date alone
        value = datetime.combine(date.fromisoformat(text), time.min)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def releases_between(since: datetime, until: datetime):
    return Release.objects.filter(created_at__gte=since, created_at__lt=until)


def attestation_digests(release_ids: list[int]) -> dict[int, str]:
    """release id -> the digest of its newest stored attestation (the DSSE envelope's bytes as served),
    the one the release is shipped with (ReleaseEvidence.latest_for); the one place the export reads
    evidence from. Oldest first, so a newer one overwrites an older one in the dict."""
    return dict(ReleaseEvidence.objects.filter(release_id__in=release_ids).order_by("created_at", "id")
                .values_list("release_id", "envelope_digest"))


def rows(releases) -> Iterator[dict]:
    """Export rows of `releases` (a queryset), oldest first, CHUNK releases at a time."""
    ordered = releases.select_related("environment", "requested_by").defer(
        "mlflow_run_metrics", "mlflow_run_tags", "mlflow_source", "mlflow_download_uri").order_by("created_at", "id")
    for chunk in _chunks(ordered.iterator(chunk_size=CHUNK), CHUNK):
        yield from _rows(chunk)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _rows(releases: list[Release]) -> Iterator[dict]:
    ids = [r.pk for r in releases]
    reports = {r.release_id: r for r in ScanReport.objects.latest_per_release().filter(release_id__in=ids)
               .select_related("policy").only("id", "release_id", "passed", "summary", "counts", "decision",
                                              "policy__version")}
    arrived = dict(arrival_events().filter(release_id__in=ids).values_list("release_id", "created_at"))
    builds: dict[int, list[str]] = {i: [] for i in ids}
    for release_id, digest in (Build.objects.filter(release_id__in=ids).exclude(image_digest="")
                               .order_by("started_at", "id").values_list("release_id", "image_digest")):
        builds[release_id].append(digest)
    approvals: dict[int, list[dict]] = {i: [] for i in ids}
    for d in ApprovalDecision.objects.filter(release_id__in=ids).select_related("user", "stage").order_by(
            "created_at", "id"):
        approvals[d.release_id].append({
            "user": d.user.get_username(), "stage": d.stage.name, "approved": d.approved, "comment": d.comment,
            "self_approval": d.self_approval, "scan_report_id": d.scan_report_id, "at": _iso(d.created_at),
            "counted": reports.get(d.release_id) is not None and d.scan_report_id == reports[d.release_id].pk})
    attestations = attestation_digests(ids)
    for r in releases:
        report = reports.get(r.pk)
        decision = report.decision if report is not None else {}
        yield {
            "release_id": r.pk, "model_name": r.model_name, "requested_ref": r.requested_ref,
            "model_version": r.model_version, "environment": r.environment.name, "status": r.status,
            "requested_by": r.requested_by.get_username(), "requested_at": _iso(r.created_at),
            "succeeded_at": _iso(arrived.get(r.pk)), "mlflow_run_id": r.mlflow_run_id,
            "image_reference": r.image_reference, "image_digest": r.image_digest, "build_digests": builds[r.pk],
            "scan_report_id": report.pk if report else None, "scan_passed": report.passed if report else None,
            "policy_version": report.policy.version if report and report.policy_id else None,
            "decision_summary": report.summary if report else "",
            "blocking_count": len(decision.get("blocking") or []) + len(decision.get("unreadable") or []),
            "counts": dict(report.counts) if report else {}, "approvals": approvals[r.pk],
            "attestation_digest": attestations.get(r.pk, ""),
        }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def neutralize(cell: str) -> str:
    return QUOTE + cell if cell.startswith((*FORMULA_START, QUOTE)) else cell


def restore(cell: str) -> str:
    return cell[1:] if cell.startswith(QUOTE) else cell


def _cell(column: str, value) -> str:
    if column in STRUCTURED:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    elif value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return neutralize(text)


def csv_lines(export_rows: Iterable[dict]) -> Iterator[str]:
    """The header, then one CSV line per row (RFC 4180 quoting, \\r\\n line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells) -> str:
        writer.writerow(cells)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(COLUMNS)
    for row in export_rows:
        yield line([_cell(column, row[column]) for column in COLUMNS])


def json_chunks(export_rows: Iterable[dict]) -> Iterator[str]:
    """One JSON array of the rows, streamed one row at a time."""
    yield "["
    for index, row in enumerate(export_rows):
        yield ("," if index else "") + "\n" + json.dumps(row, ensure_ascii=False)
    yield "\n]\n"


FORMATS = {"csv": (csv_lines, "text/csv; charset=utf-8"), "json": (json_chunks, "application/json")}


def stream(releases, export_format: str) -> Iterator[str]:
    encode, _content_type = FORMATS[export_format]
    return encode(rows(releases))

"""What a model's files do to the decision: the policy's knobs on dangerous, unreadable and unknown code.

Dangerous and unreadable block by default and can at most be relaxed to warn; unknown (not on the flavor's
allowlist, releases/artifact_scan/allowlist.py) blocks by default too, and may be relaxed per environment.

Pure, like releases.scanning.policy, which calls it: the model files come in as plain dicts (the
ModelFile rows' path, verdict and findings; or the dry run's unstored scan), so the worker, the
re-evaluation and the dry run decide the same way. A knob that holds anything but "warn" or
"allow" blocks: a policy row written around the admin's choices fails closed.
"""
import re
from collections.abc import Callable, Sequence

# classification -> the PolicyRules field that says what it does
KNOBS = {"dangerous": "model_file_dangerous", "unreadable": "model_file_unreadable", "unknown": "model_file_unknown"}
MAX_ENTRIES = 200  # blocking and warning entries from model files, each; the files' rows keep every finding
# A waiver of one unknown import: the advisory id of a Waiver (approved by a second security officer, like every
# waiver) names the exact file digest and the exact callable. Dangerous and unreadable files cannot be waived.
WAIVER_PREFIX = "model-file:"
WAIVER_ID = re.compile(r"model-file:[0-9a-f]{64}:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def waiver_id(sha256: str, name: str) -> str:
    return f"{WAIVER_PREFIX}{sha256}:{name}"


def _action(rules, classification: str) -> str:
    value = getattr(rules, KNOBS[classification])
    return value if value in ("warn", "allow") else "block"


def _entry(path: str, finding: dict) -> dict:
    where = f"{path}!{finding['member']}" if finding.get("member") else path
    what = finding["classification"]
    detail = (finding.get("reason") or finding.get("name", "")) if what == "unreadable" else finding.get("name", "")
    reason = f"{where}: {detail} ({what})"
    if what == "unknown":  # said plainly: not on the flavor's allowlist, so nobody vouches for it
        reason += f": this file runs `{detail}` when loaded; we do not know it to be safe"
    return {"package": "", "model_file": path, "where": where, "classification": what, "name": finding.get("name", ""),
            "kind": finding.get("kind", ""), "reason": reason}


def _findings_of(model_file: dict) -> list[dict]:
    """The file's findings; a file whose verdict counts but whose findings were not kept (a cap) still
    counts, as one finding of its verdict."""
    findings = list(model_file.get("findings") or [])
    verdict = model_file.get("verdict")
    if verdict in KNOBS and not any(f.get("classification") == verdict for f in findings):
        findings.append({"classification": verdict, "member": "", "kind": "verdict",
                         "name": "(details over the stored limit)", "reason": "(details over the stored limit)"})
    return findings


def judge(model_files: Sequence[dict], rules, waiver_for: Callable | None = None) -> tuple[list[dict], list[dict], int]:
    """(blocking, warnings, omitted): one entry per file, classification and name, capped at MAX_ENTRIES each.
    `waiver_for(sha256, name)`: the waiver of an unknown import in that exact file, or None; a blocking entry it
    covers carries `"waiver": id` (the caller lists it as waived)."""
    blocking: list[dict] = []
    warnings: list[dict] = []
    seen: set = set()
    omitted = 0
    for model_file in model_files:
        for finding in _findings_of(model_file):
            what = finding.get("classification")
            if what not in KNOBS:
                continue
            action = _action(rules, what)
            entry = _entry(model_file["path"], finding)
            key = (entry["where"], what, entry["name"])
            if action == "allow" or key in seen:
                continue
            seen.add(key)
            waiver = waiver_for(model_file.get("sha256", ""), entry["name"]) if (
                waiver_for and what == "unknown" and action == "block") else None
            if waiver is not None:
                entry = {**entry, "waiver": waiver.id, "reason": f"{entry['reason']} (waived by waiver #{waiver.id})"}
            bucket = blocking if action == "block" else warnings
            if len(bucket) < MAX_ENTRIES:
                bucket.append(entry)
            else:
                omitted += 1
        if model_file.get("findings_omitted") and model_file.get("verdict") in KNOBS:
            # findings are kept worst first: the ones left out weigh no more than the file's verdict
            omitted += model_file["findings_omitted"]
    return blocking, warnings, omitted


def summary_part(blocking: list[dict]) -> str:
    """The model files' share of a failed decision's one line."""
    entries = [b for b in blocking if "model_file" in b]
    if not entries:
        return ""
    more = f" and {len(entries) - 3} more" if len(entries) > 3 else ""
    return "Model files: " + "; ".join(b["reason"] for b in entries[:3]) + more + "."

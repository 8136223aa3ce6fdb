"""The chain of evidence of a verified Statement, as lines for a person (verify_release prints them)."""
from collections import Counter


def _digest(entry: dict) -> str:
    return "sha256:" + str((entry or {}).get("digest", {}).get("sha256", "?"))


def _verdicts(model_files: list) -> str:
    counts = Counter(str(f.get("verdict")) for f in model_files)
    return ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items())) or "none"


def evidence_lines(statement: dict) -> list[str]:
    p = statement.get("predicate") or {}
    release, model, scan, policy = p.get("release", {}), p.get("model", {}), p.get("scan", {}), p.get("policy", {})
    adv, build, sbom = p.get("advisories", {}), p.get("build", {}), p.get("sbom", {})
    lines = [f"Image:     {s.get('name')}@{_digest(s)}" for s in statement.get("subject", [])]
    lines += [
        f"Release:   #{release.get('id')} to {release.get('environment')}, requested by {release.get('requested_by')}"
        f" at {release.get('requested_at')}, SUCCEEDED at {release.get('succeeded_at')}",
        f"Model:     {model.get('name')} version {model.get('version')} (MLflow run {model.get('mlflow_run_id')})",
        *(f"  file     {f.get('name')} {f.get('size')} bytes {_digest(f)}" for f in model.get("files", [])),
        f"  model    {len(model.get('model_files', []))} file(s) scanned, list "
        f"{_digest({'digest': model.get('model_files_digest')})} ({_verdicts(model.get('model_files', []))})",
        f"Scan:      report #{scan.get('report')} {_digest(scan)} ({scan.get('form')}): "
        f"{'passed' if scan.get('passed') else 'FAILED'} — {scan.get('summary')}",
        f"Advisories: sync #{adv.get('sync')} snapshot at {adv.get('snapshot_at')}",
        f"Policy:    {policy.get('environment')} v{policy.get('version') or ' default'} {_digest(policy)}",
    ]
    lines += [f"Waiver:    #{w.get('id')} {w.get('advisory_id')} {w.get('package') or ''} approved by "
              f"{w.get('approved_by')} until {w.get('expires_at')}: {w.get('reason')}" for w in p.get("waivers", [])]
    if not p.get("waivers"):
        lines.append("Waivers:   none used")
    lines += [f"Approval:  {a.get('user')} at stage {a.get('stage')} at {a.get('approved_at')}, saw report "
              f"#{a.get('saw', {}).get('scan_report')} {_digest(a.get('saw', {}))}" for a in p.get("approvals", [])]
    if not p.get("approvals"):
        lines.append("Approvals: none required")
    lines += [
        f"Build:     #{build.get('id')} {build.get('backend')} attempt {build.get('attempt')} "
        f"log {build.get('log_url')}",
        f"SBOM:      CycloneDX {sbom.get('specVersion')} {_digest(sbom)}",
        *(f"Audit:     release #{rid} chain head {head.get('sequence')} {head.get('hash')}"
          for rid, head in (p.get("audit", {}).get("chain_heads") or {}).items()),
        f"Signed:    key {p.get('signer', {}).get('keyid')} at {p.get('signer', {}).get('signed_at')}",
    ]
    return lines

"""Turn a scan into a pass/fail decision under an environment's policy, with every reason.

Pure: the rules, waivers and run data come in as plain values, so the worker, the
dry-run endpoint and `scan_env --environment` all decide through this one function.
"""
import operator
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

from releases.locking.verdict import verdict as lock_verdict
from releases.scanning import model_policy
from releases.scanning.envparse import Dependency
from releases.scanning.scanner import FindingData
from releases.scanning.severity import RANK, Level

_OPERATORS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}


@dataclass(frozen=True)
class PolicyRules:
    version: int | None = None  # None: the built-in default (the original note's rule)
    environment: str = ""
    block_at: str = "CRITICAL"
    ignore_unfixed: bool = False
    unknown_counts_as: str = "CRITICAL"
    possible_findings: str = "warn"
    unpinned_requirements: str = "warn"
    unpinned_build_dependencies: str = "warn"
    direct_references: str = "allow"
    resolve_dependencies: str = "warn"  # off | warn | require (releases.locking.verdict)
    metric_gates: tuple = ()
    required_tags: tuple = ()
    rego_policy: str = ""
    model_file_dangerous: str = "block"
    model_file_unreadable: str = "block"
    model_file_unknown: str = "block"


@dataclass(frozen=True)
class WaiverRule:
    id: int
    advisory_id: str
    package: str = ""
    model_name: str = ""
    environment: str = ""
    expires_at: datetime | None = None

    def covers(self, finding: FindingData, model_name: str, environment: str, now: datetime) -> bool:
        return (
            (self.expires_at is None or self.expires_at > now)
            and self.advisory_id.casefold() in {name.casefold() for name in (finding.advisory_id, *finding.aliases)}
            and self.package in ("", finding.package)
            and self.model_name in ("", model_name)
            and self.environment in ("", environment)
        )

    def covers_model_file(self, sha256: str, name: str, model_name: str, environment: str, now: datetime) -> bool:
        """A model-file waiver names one exact file (its SHA-256) and one exact callable: nothing wider."""
        return (
            (self.expires_at is None or self.expires_at > now)
            and bool(sha256) and self.advisory_id == model_policy.waiver_id(sha256, name)
            and self.model_name in ("", model_name)
            and self.environment in ("", environment)
        )


@dataclass
class PolicyDecision:
    passed: bool
    summary: str
    policy_version: int | None
    environment: str
    blocking: list[dict] = field(default_factory=list)
    waived: list[dict] = field(default_factory=list)
    ignored: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    gates: list[dict] = field(default_factory=list)
    waivers_used: list[int] = field(default_factory=list)
    block_at: str = "CRITICAL"
    unknown_counts_as: str = "CRITICAL"
    below_threshold: int = 0  # definite findings that do not reach the blocking severity
    rego: dict | None = None  # {"allow": bool, "deny": [...]} when the environment has a Rego policy
    # Files that could not be read completely and unambiguously, and caps reached. Each one
    # blocks in every environment, whatever the policy or a Rego rule says: "could not read"
    # never means "nothing found".
    unreadable: list[dict] = field(default_factory=list)
    # The model files' verdicts: {"files": n, "verdicts": {verdict: n}, "omitted": entries left out}. Their
    # blocking entries (with "model_file") stand whatever a Rego rule says, as unreadable ones do.
    model_files: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _ref(finding: FindingData, **extra) -> dict:
    return {"package": finding.package, "version": finding.version, "specifier": finding.specifier,
            "advisory_id": finding.advisory_id, "severity": finding.severity.value, "role": finding.role,
            "definite": finding.definite, "where": f"{finding.source_file}:{finding.line}",
            **({"pulled_in_by": " → ".join(finding.pulled_in_by)} if finding.pulled_in_by else {}), **extra}


def _where(error: dict) -> str:
    if not error.get("file"):
        return ""
    return f"{error['file']}:{error['line']}" if error.get("line") else error["file"]


def _unreadable(errors: list[dict]) -> list[dict]:
    return [{"package": "", "where": _where(e), "unreadable": True,
             "reason": (f"{_where(e)}: " if _where(e) else "") + e["message"]} for e in errors]


_UNPINNED_KNOB = {"runtime": "unpinned_requirements", "build": "unpinned_build_dependencies"}


def _dependency_rules(dep: Dependency, rules: PolicyRules) -> tuple[str, dict] | None:
    """(action, entry) for a dependency itself: a direct reference, or an unpinned requirement."""
    where = f"{dep.source_file}:{dep.line}"
    if dep.kind == "index":
        if rules.direct_references != "block":
            return None
        return "block", {"package": "", "where": where, "role": dep.role,
                         "reason": f"package source option {dep.url}: packages may come from outside the index"}
    if dep.kind != "registry":
        if rules.direct_references != "block":
            return None
        return "block", {"package": dep.name or dep.url, "where": where, "role": dep.role,
                         "reason": f"{dep.kind} requirement {dep.url} is not from the package index"}
    knob = _UNPINNED_KNOB.get(dep.role)  # a constraint adds no package: its pin matters, not its absence
    if knob is None or not dep.matchable or dep.version is not None or getattr(rules, knob) == "allow":
        return None
    what = "unpinned build dependency" if dep.role == "build" else "unpinned requirement"
    return getattr(rules, knob), {"package": dep.name, "specifier": dep.specifier, "where": where, "role": dep.role,
                                  "reason": f"{what} {dep.name}{dep.specifier or ' (any version)'}"}


def _blocks(finding: FindingData, rules: PolicyRules) -> tuple[bool, str]:
    level = rules.unknown_counts_as if finding.severity == Level.UNKNOWN else finding.severity.value
    if RANK[Level(level)] < RANK[Level(rules.block_at)]:
        return False, ""
    if finding.severity == Level.UNKNOWN:
        return True, f"severity unknown, counted as {level}"
    return True, f"{level} is at or above the {rules.block_at} threshold"


def _gates(rules: PolicyRules, metrics: dict, tags: dict) -> list[dict]:
    gates = []
    for gate in rules.metric_gates:
        name = f"{gate['metric']} {gate['op']} {gate['value']:g}"
        value = metrics.get(gate["metric"])
        if value is None:
            gates.append({"gate": name, "passed": False,
                          "message": f"metric {gate['metric']!r} is missing from the run"})
        else:
            ok = _OPERATORS[gate["op"]](float(value), float(gate["value"]))
            gates.append({"gate": name, "passed": ok, "message": f"{gate['metric']} = {value:g}"})
    for tag in rules.required_tags:
        present = bool(str(tags.get(tag, "")).strip())
        gates.append({"gate": f"tag {tag}", "passed": present,
                      "message": f"tag {tag!r} = {tags[tag]!r}" if present else f"tag {tag!r} is missing from the run"})
    return gates


def evaluate(findings: list[FindingData], dependencies: list[Dependency], rules: PolicyRules,
             waivers: list[WaiverRule], *, model_name: str, now: datetime,
             metrics: dict | None = None, tags: dict | None = None,
             errors: Sequence[dict] = (), lock: dict | None = None,
             model_files: Sequence[dict] = ()) -> PolicyDecision:
    decision = PolicyDecision(passed=True, summary="", policy_version=rules.version, environment=rules.environment,
                              block_at=rules.block_at, unknown_counts_as=rules.unknown_counts_as)
    decision.unreadable = _unreadable(list(errors))
    decision.blocking.extend(decision.unreadable)
    used: set[int] = set()
    for finding in findings:
        if not finding.definite and rules.possible_findings == "allow":
            continue
        blocks, why = _blocks(finding, rules)
        if not blocks:
            decision.below_threshold += finding.definite
            continue
        if not finding.definite and rules.possible_findings == "warn":
            decision.warnings.append(_ref(finding, reason=f"possible (unpinned) match; {why}"))
            continue
        if rules.ignore_unfixed and not finding.fixed_versions:
            decision.ignored.append(_ref(finding, reason="no fixed version exists (ignore_unfixed)"))
            continue
        waiver = next((w for w in waivers if w.covers(finding, model_name, rules.environment, now)), None)
        if waiver is not None:
            used.add(waiver.id)
            decision.waived.append(_ref(finding, waiver=waiver.id, reason=why))
            continue
        decision.blocking.append(_ref(finding, reason=why))
    for dep in dependencies:
        verdict = _dependency_rules(dep, rules)
        if verdict is not None:
            (decision.blocking if verdict[0] == "block" else decision.warnings).append(verdict[1])
    locked = lock_verdict(lock, rules.resolve_dependencies)
    if locked is not None:
        (decision.blocking if locked[0] == "block" else decision.warnings).append(locked[1])
    used |= _judge_model_files(decision, model_files, rules, waivers, model_name, now)
    decision.gates = _gates(rules, metrics or {}, tags or {})
    decision.waivers_used = sorted(used)
    failed_gates = [g for g in decision.gates if not g["passed"]]
    decision.passed = not decision.blocking and not failed_gates
    decision.summary = _summary(decision, failed_gates)
    return decision


def _judge_model_files(decision: PolicyDecision, model_files: Sequence[dict], rules: PolicyRules,
                       waivers: Sequence[WaiverRule], model_name: str, now: datetime) -> set[int]:
    """The model files' share of the decision; the ids of the waivers that covered an unknown import."""
    def waiver_for(sha256: str, name: str):
        return next((w for w in waivers if w.covers_model_file(sha256, name, model_name, rules.environment, now)), None)

    blocking, warnings, omitted = model_policy.judge(model_files, rules, waiver_for=waiver_for)
    decision.blocking.extend(b for b in blocking if "waiver" not in b)
    decision.waived.extend(b for b in blocking if "waiver" in b)
    decision.warnings.extend(warnings)
    verdicts = Counter(model_file["verdict"] for model_file in model_files)
    decision.model_files = {"files": len(model_files), "verdicts": dict(verdicts), "omitted": omitted}
    return {b["waiver"] for b in blocking if "waiver" in b}


def apply_rego(decision: PolicyDecision, allow: bool, reasons: list[str]) -> None:
    """A Rego policy has the last word: it saw the built-in decision in its input."""
    decision.rego = {"allow": allow, "deny": reasons}
    if decision.unreadable or model_policy.summary_part(decision.blocking):
        return  # unreadable files and blocked model files block whatever Rego says; the summary says why
    decision.passed = allow
    policy = f"{decision.environment} policy v{decision.policy_version}"
    if allow:
        decision.summary = f"Security scan passed. Rego policy allowed the release. ({policy})"
    else:
        why = "; ".join(reasons[:3]) or "no allow rule matched"
        decision.summary = f"Security scan failed. Rego policy denied: {why}. ({policy})"


def _summary(decision: PolicyDecision, failed_gates: list[dict]) -> str:
    policy = (f"{decision.environment} policy v{decision.policy_version}" if decision.policy_version
              else "default policy")
    if decision.passed:
        extra = []
        if decision.below_threshold:
            extra.append(f"{decision.below_threshold} finding(s) below the {decision.block_at} threshold")
        if decision.waived:
            extra.append(f"{len(decision.waived)} finding(s) waived ("
                         + ", ".join(f"waiver #{w}" for w in decision.waivers_used) + ")")
        if decision.warnings:
            extra.append(f"{len(decision.warnings)} warning(s)")
        return "Security scan passed" + (". " + "; ".join(extra) if extra else "") + f". ({policy})"
    parts = []
    if decision.unreadable:
        more = f" (and {len(decision.unreadable) - 2} more)" if len(decision.unreadable) > 2 else ""
        parts.append("The environment files cannot be read completely and unambiguously: "
                     + "; ".join(u["reason"] for u in decision.unreadable[:2]) + more + ".")
    findings = [b for b in decision.blocking if "advisory_id" in b]
    if findings:
        threshold = decision.block_at
        what = "CRITICAL vulnerabilities" if threshold == "CRITICAL" else f"vulnerabilities at or above {threshold}"
        unknown = sum(1 for b in findings if b["severity"] == "UNKNOWN")
        parts.append(f"Found {len(findings)} {what}.")
        if unknown:
            parts.append(f"{unknown} of them {'has' if unknown == 1 else 'have'} unknown severity, "
                         f"counted as {decision.unknown_counts_as}.")
        more = f" and {len(findings) - 4} more" if len(findings) > 4 else ""
        parts.append("Blocking: " + ", ".join(f"{b['package']} {b['advisory_id']}"
                                              + (f" ({b['role']})" if b.get("role", "runtime") != "runtime" else "")
                                              for b in findings[:4]) + more + ".")
    others = [b for b in decision.blocking if "advisory_id" not in b and not b.get("unreadable")
              and "model_file" not in b]
    if others:
        more = f" and {len(others) - 2} more" if len(others) > 2 else ""
        reasons = "; ".join(b["reason"] for b in others[:2])
        parts.append(reasons[:1].upper() + reasons[1:] + more + ".")  # not capitalize(): it lowercases names
    if model_policy.summary_part(decision.blocking):
        parts.append(model_policy.summary_part(decision.blocking))
    if failed_gates:
        parts.append("Quality gates failed: " + ", ".join(f"{g['gate']} ({g['message']})" for g in failed_gates) + ".")
    return "Security scan failed. " + " ".join(parts) + f" ({policy})"

"""One entry point for a scan's decision: the built-in rules, then the Rego policy if any.

Without an environment the built-in default applies (the original note's rule), failing
closed: any definite CRITICAL finding blocks, and so does any definite finding whose
severity no record gives (UNKNOWN counts as CRITICAL), because "unknown" is not
"harmless" — PYSEC-2021-142 (PyYAML < 5.4, CVSS 9.8 elsewhere) carries no severity.
"""
from datetime import UTC, datetime

from releases.scanning.policy import PolicyDecision, PolicyRules, apply_rego, evaluate
from releases.scanning.scanner import ScanResult

DEFAULT_RULES = PolicyRules()


def decide(result: ScanResult, rules: PolicyRules = DEFAULT_RULES, waivers=(), *, model_name: str = "",
           metrics=None, tags=None, now: datetime | None = None, model_files=()) -> PolicyDecision:
    """Raises rego.RegoFailure when the environment's Rego policy cannot be evaluated. `model_files`: the
    model's scanned files as dicts (path, verdict, findings; releases.model_files)."""
    decision = evaluate(result.findings, result.dependencies, rules, list(waivers), model_name=model_name,
                        now=now or datetime.now(UTC), metrics=metrics, tags=tags, errors=result.errors,
                        lock=result.extra.get("dependency_lock"), model_files=model_files)
    if rules.rego_policy.strip():
        from releases.scanning import rego  # a child process; only for environments that use Rego

        apply_rego(decision, *rego.evaluate(rules.rego_policy, {
            "release": {"model_name": model_name, "environment": rules.environment, "policy_version": rules.version},
            "findings": [f.as_dict() for f in result.findings],
            "dependencies": [d.as_dict() for d in result.dependencies],
            "dependency_lock": result.extra.get("dependency_lock"),
            "gates": decision.gates, "waived": decision.waived, "metrics": metrics or {}, "tags": tags or {},
            "model_files": decision.model_files,
            "builtin": {"passed": decision.passed, "blocking": decision.blocking, "warnings": decision.warnings,
                        "unreadable": decision.unreadable},
        }))
    return decision

"""The decision without an environment: the built-in default policy (the original note's rule).

Fail closed: any definite CRITICAL finding blocks, and so does any definite finding
whose severity no record gives (UNKNOWN counts as CRITICAL), because "unknown" is not
"harmless" — PYSEC-2021-142 (PyYAML < 5.4, CVSS 9.8 elsewhere) carries no severity.
"""
from datetime import datetime, timezone

from releases.scanning.policy import PolicyDecision, PolicyRules, evaluate
from releases.scanning.scanner import ScanResult

DEFAULT_RULES = PolicyRules()


def decide(result: ScanResult, rules: PolicyRules = DEFAULT_RULES, waivers=(), *, model_name: str = "",
           metrics=None, tags=None, now: datetime | None = None) -> PolicyDecision:
    return evaluate(result.findings, result.dependencies, rules, list(waivers), model_name=model_name,
                    now=now or datetime.now(timezone.utc), metrics=metrics, tags=tags)

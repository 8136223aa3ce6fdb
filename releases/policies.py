"""Load an environment's current policy and the active waivers as plain rules for the engine."""
from django.utils import timezone

from releases.models import EnvironmentPolicy, Waiver
from releases.scanning import rego
from releases.scanning.policy import PolicyRules, WaiverRule, apply_rego


def rules_from(policy: EnvironmentPolicy) -> PolicyRules:
    return PolicyRules(
        version=policy.version, environment=policy.environment.name, block_at=policy.block_at,
        ignore_unfixed=policy.ignore_unfixed, unknown_counts_as=policy.unknown_counts_as,
        possible_findings=policy.possible_findings, unpinned_requirements=policy.unpinned_requirements,
        direct_references=policy.direct_references, metric_gates=tuple(policy.metric_gates),
        required_tags=tuple(policy.required_tags), rego_policy=policy.rego_policy,
    )


def current_rules(environment) -> tuple[PolicyRules, EnvironmentPolicy | None]:
    """The environment's newest policy version; the built-in default if it has none."""
    policy = EnvironmentPolicy.current_for(environment.pk)
    if policy is None:
        return PolicyRules(environment=environment.name), None
    return rules_from(policy), policy


def active_waivers(at=None) -> list[WaiverRule]:
    rows = Waiver.objects.active(at).select_related("environment")
    return [WaiverRule(id=w.pk, advisory_id=w.advisory_id, package=w.package, model_name=w.model_name,
                       environment=w.environment.name if w.environment_id else "", expires_at=w.expires_at)
            for w in rows]


def decide_for(result, environment, model_name: str, metrics: dict, tags: dict, now=None):
    """The decision for `result` as a release of `model_name` to `environment`, today."""
    from releases.scanning.decision import decide

    now = now or timezone.now()
    rules, policy = current_rules(environment)
    decision = decide(result, rules, active_waivers(now), model_name=model_name, now=now, metrics=metrics, tags=tags)
    if rules.rego_policy.strip():
        document = {
            "release": {"model_name": model_name, "environment": environment.name, "policy_version": rules.version},
            "findings": [f.as_dict() for f in result.findings],
            "dependencies": [d.as_dict() for d in result.dependencies],
            "gates": decision.gates, "waived": decision.waived, "metrics": metrics or {}, "tags": tags or {},
            "builtin": {"passed": decision.passed, "blocking": decision.blocking, "warnings": decision.warnings},
        }
        allow, reasons = rego.evaluate(rules.rego_policy, document)  # RegoFailure: an operational failure
        apply_rego(decision, allow, reasons)
    return decision, policy


def decide_for_release(result, release, now=None):
    return decide_for(result, release.environment, release.model_name, release.mlflow_run_metrics,
                      release.mlflow_run_tags, now)

"""Load an environment's current policy and the active waivers as plain rules for the engine."""
from django.utils import timezone

from releases.models import EnvironmentPolicy, Waiver
from releases.scanning.decision import decide
from releases.scanning.policy import PolicyRules, WaiverRule


def rules_from(policy: EnvironmentPolicy) -> PolicyRules:
    return PolicyRules(
        version=policy.version, environment=policy.environment.name, block_at=policy.block_at,
        ignore_unfixed=policy.ignore_unfixed, unknown_counts_as=policy.unknown_counts_as,
        possible_findings=policy.possible_findings, unpinned_requirements=policy.unpinned_requirements,
        unpinned_build_dependencies=policy.unpinned_build_dependencies,
        direct_references=policy.direct_references, resolve_dependencies=policy.resolve_dependencies,
        metric_gates=tuple(policy.metric_gates),
        required_tags=tuple(policy.required_tags), rego_policy=policy.rego_policy,
        model_file_dangerous=policy.model_file_dangerous, model_file_unreadable=policy.model_file_unreadable,
        model_file_unknown=policy.model_file_unknown,
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


def decide_for(result, environment, model_name: str, metrics: dict, tags: dict, now=None, model_files=()):
    """The decision for `result` (and the model's scanned files) as a release of `model_name` to
    `environment`, today.

    Raises rego.RegoFailure when the environment's Rego policy cannot be evaluated."""
    now = now or timezone.now()
    rules, policy = current_rules(environment)
    decision = decide(result, rules, active_waivers(now), model_name=model_name, now=now, metrics=metrics, tags=tags,
                      model_files=model_files)
    return decision, policy


def decide_for_release(result, release, now=None, model_files=()):
    return decide_for(result, release.environment, release.model_name, release.mlflow_run_metrics,
                      release.mlflow_run_tags, now, model_files)

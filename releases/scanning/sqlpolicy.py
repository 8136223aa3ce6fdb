"""Read an environment's current policy and the active waivers with plain SQL (for scan_env).

Same tables as the Django models (releases_environment, releases_environmentpolicy,
releases_waiver); returns the engine's plain rules, so scan_env decides exactly like
the worker does.
"""
from datetime import datetime

from releases.scanning.policy import PolicyRules, WaiverRule
from releases.scanning.sqlstore import SqlAdvisoryStore, _json, _timestamp


class UnknownEnvironment(Exception):
    pass


def load_policy(store: SqlAdvisoryStore, environment: str, now: datetime) -> tuple[PolicyRules, list[WaiverRule]]:
    ph = store.ph
    env = store._rows(f"SELECT id FROM releases_environment WHERE name = {ph}", (environment,))
    if not env:
        raise UnknownEnvironment(f"unknown environment {environment!r}")
    rows = store._rows(
        "SELECT version, block_at, ignore_unfixed, unknown_counts_as, possible_findings, unpinned_requirements, "
        "unpinned_build_dependencies, direct_references, metric_gates, required_tags, rego_policy "
        "FROM releases_environmentpolicy "
        f"WHERE environment_id = {ph} ORDER BY version DESC LIMIT 1", (env[0][0],))
    if rows:
        (version, block_at, ignore_unfixed, unknown_as, possible, unpinned, unpinned_build, direct, gates, tags,
         rego_text) = rows[0]
        rules = PolicyRules(version=version, environment=environment, block_at=block_at,
                            ignore_unfixed=bool(ignore_unfixed), unknown_counts_as=unknown_as,
                            possible_findings=possible, unpinned_requirements=unpinned,
                            unpinned_build_dependencies=unpinned_build, direct_references=direct,
                            metric_gates=tuple(_json(gates) or ()), required_tags=tuple(_json(tags) or ()),
                            rego_policy=rego_text or "")
    else:
        rules = PolicyRules(environment=environment)
    waivers = []
    for waiver_id, advisory_id, package, model_name, env_name, expires_at in store._rows(
            "SELECT w.id, w.advisory_id, w.package, w.model_name, e.name, w.expires_at FROM releases_waiver w "
            "LEFT JOIN releases_environment e ON e.id = w.environment_id "
            "WHERE w.approved_at IS NOT NULL AND w.revoked_at IS NULL"):
        expires = _timestamp(expires_at)
        if expires is not None and expires > now:
            waivers.append(WaiverRule(id=waiver_id, advisory_id=advisory_id, package=package or "",
                                      model_name=model_name or "", environment=env_name or "", expires_at=expires))
    return rules, waivers

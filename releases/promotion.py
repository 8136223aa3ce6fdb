"""The promotion chain: staging → canary → production (Environment.requires_success_in).

Where the environment's policy requires a dependency lock, only a predecessor release whose lock was made
counts: an image that installs no locked closure is not promoted into it (locking.shipping, whose rule the
build and the promotion apply again when they run).
"""
from datetime import timedelta

from django.utils import timezone

from releases.locking import shipping
from releases.models import Environment, Release
from releases.statuses import Status


class PromotionRefused(Exception):
    """The predecessor step is missing (HTTP 409)."""


def _succeeded(model_name: str, predecessor: Environment, locked: bool = False):
    done = Release.objects.filter(model_name=model_name, environment=predecessor, status=Status.SUCCEEDED)
    return done.filter(**shipping.LOCK_MADE) if locked else done


def allowed_versions(model_name: str, environment: Environment) -> dict:
    """What `check` would let through, for showing before anyone asks: `any` (no predecessor), else the
    versions that SUCCEEDED in the predecessor and have soaked, and those still soaking (with when)."""
    predecessor = environment.requires_success_in
    if predecessor is None:
        return {"any": True, "allowed": [], "soaking": {}}
    soaked_before = timezone.now() - timedelta(minutes=environment.min_soak_minutes)
    allowed, soaking = set(), {}
    done = _succeeded(model_name, predecessor, locked=bool(shipping.refuses_unlocked(environment)))
    for version, done_at in done.values_list("model_version", "updated_at")[:1000]:
        if done_at <= soaked_before:
            allowed.add(version)
        elif version not in allowed:
            soaking[version] = min(soaking.get(version, done_at), done_at) + timedelta(
                minutes=environment.min_soak_minutes)
    return {"any": False, "allowed": sorted(allowed, key=_version_key, reverse=True),
            "soaking": {v: at for v, at in soaking.items() if v not in allowed}}


def _version_key(version: str) -> int:
    return int(version) if version.isdigit() else 0


def check(model_name: str, version: str, environment: Environment) -> None:
    """Refuse unless `version` (or, for an alias not yet resolved, any version) of the model has
    SUCCEEDED in the predecessor environment, at least `min_soak_minutes` ago."""
    predecessor = environment.requires_success_in
    if predecessor is None:
        return
    done = _succeeded(model_name, predecessor)
    if version:
        done = done.filter(model_version=version)
    what = f"{model_name} version {version}" if version else f"a version of {model_name}"
    if not done.exists():
        raise PromotionRefused(f"{environment.name} requires a SUCCEEDED release of {what} in "
                               f"{predecessor.name} first.")
    refused_by = shipping.refuses_unlocked(environment)
    if refused_by:
        done = done.filter(**shipping.LOCK_MADE)
        if not done.exists():
            raise PromotionRefused(f"{refused_by[:1].upper()}{refused_by[1:]}, and no SUCCEEDED release of {what} in "
                                   f"{predecessor.name} has one: its image installs no locked closure. Release it "
                                   f"again in {predecessor.name} once its dependencies resolve into a lock.")
    soaked_before = timezone.now() - timedelta(minutes=environment.min_soak_minutes)
    if environment.min_soak_minutes and not done.filter(updated_at__lte=soaked_before).exists():
        raise PromotionRefused(f"{environment.name} requires {what} to have soaked in {predecessor.name} for "
                               f"{environment.min_soak_minutes} minutes after it SUCCEEDED.")

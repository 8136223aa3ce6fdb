"""The promotion chain: staging → canary → production (Environment.requires_success_in)."""
from datetime import timedelta

from django.utils import timezone

from releases.models import Environment, Release
from releases.statuses import Status


class PromotionRefused(Exception):
    """The predecessor step is missing (HTTP 409)."""


def check(model_name: str, version: str, environment: Environment) -> None:
    """Refuse unless `version` (or, for an alias not yet resolved, any version) of the model has
    SUCCEEDED in the predecessor environment, at least `min_soak_minutes` ago."""
    predecessor = environment.requires_success_in
    if predecessor is None:
        return
    done = Release.objects.filter(model_name=model_name, environment=predecessor, status=Status.SUCCEEDED)
    if version:
        done = done.filter(model_version=version)
    what = f"{model_name} version {version}" if version else f"a version of {model_name}"
    if not done.exists():
        raise PromotionRefused(f"{environment.name} requires a SUCCEEDED release of {what} in "
                               f"{predecessor.name} first.")
    soaked_before = timezone.now() - timedelta(minutes=environment.min_soak_minutes)
    if environment.min_soak_minutes and not done.filter(updated_at__lte=soaked_before).exists():
        raise PromotionRefused(f"{environment.name} requires {what} to have soaked in {predecessor.name} for "
                               f"{environment.min_soak_minutes} minutes after it SUCCEEDED.")

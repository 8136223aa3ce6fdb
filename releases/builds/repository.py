"""Where a model's images live: BUILD_REGISTRY/<model slug>.

The local builder pushes there, promotions tag there, remote CI systems are told to push there (the build
request's `image_repository`), and a completion's image must be there (image_check). Its own module so that
each of those can import it without importing the others.
"""
import re

from django.conf import settings


def repository_for(model_name: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", model_name.lower()).strip("-._") or "model"
    return f"{settings.BUILD_REGISTRY.rstrip('/')}/{slug}"

"""Start an image by digest as the gateway's smoke test does (own network, non-root, bounded) and print its answer.

    manage.py smoke_image REGISTRY/REPO@sha256:... [--input serving_input_example.json]

Prints the smoke result as JSON (with the predictions). Exit status 1 if the image did not answer.
"""
import json
import os
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from releases import registry
from releases.builds import smoke
from releases.builds.buildah import BuildahMissing, BuildFailure


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("image", help="name@sha256:<digest> (a tag is refused: the digest is what was tested)")
        parser.add_argument("--input", type=Path, help="a JSON body for /invocations (default: ping only)")

    def handle(self, *args, image, input=None, **options):
        try:
            reference = registry.parse_reference(image)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not reference.digest or reference.tag:
            raise CommandError("name the image by digest alone: REGISTRY/REPOSITORY@sha256:<64 hex>")
        example = input.read_bytes() if input else None
        deadline = time.monotonic() + settings.SMOKE_TEST_TIMEOUT_SECONDS + 120
        try:
            result = smoke.run(str(reference), f"cli-{os.getpid()}", example, deadline)
        except (BuildFailure, BuildahMissing) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(result, indent=2))
        if not result.get("passed"):
            raise CommandError(result.get("message", "the image did not answer"))

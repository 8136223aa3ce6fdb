"""Make the default serving base image here (mmdebstrap + buildah) and push it to BUILD_REGISTRY.

Prints the reference to set as BUILD_BASE_IMAGE. Idempotent: the recorded base is reused while it is still in
the registry and the recipe has not changed; the root file system is cached outside the checkout.
"""
from django.core.management.base import BaseCommand, CommandError

from releases.builds import base_image


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--quiet-reference", action="store_true",
                            help="print only the reference (for scripts: BUILD_BASE_IMAGE=$(...))")

    def handle(self, *args, quiet_reference=False, **options):
        try:
            made = base_image.ensure_published()
        except base_image.BaseImageError as exc:
            raise CommandError(str(exc)) from None
        if quiet_reference:
            self.stdout.write(made.reference)
            return
        self.stdout.write(f"Base image: {made.reference}\nPython: {made.python_version}\n"
                          f"Set BUILD_BASE_IMAGE={made.reference}")

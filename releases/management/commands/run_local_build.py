"""`manage.py run_local_build BUILD_ID`: the local builder, spawned by releases.builds.local.start.

It runs outside the worker's task, so the build's own limits apply, and reports through
releases.builds.completion like a remote CI system would.
"""
from django.core.management.base import BaseCommand

from releases.builds import local


class Command(BaseCommand):
    help = "Build, push and report one local image build (started by the worker; not for manual use)."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("build_id", type=int)

    def handle(self, *args, build_id: int, **options):
        self.stdout.write(f"build {build_id}: {local.run(build_id)}")

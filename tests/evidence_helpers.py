"""A release taken to SUCCEEDED through the real scan, policy and completion path, for the evidence tests."""
import hashlib
import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from releases import evaluation
from releases.builds.completion import record_completion
from releases.models import Build, Release, ReleaseEvidence, ReleaseFile, Waiver
from releases.statuses import Status
from tests.factories import make_release
from tests.lock_fixtures import with_lock

REQUIREMENTS = "pyyaml==5.3\nrequests==2.19.0\npillow\n"
CONDA = ("name: env\nchannels: [conda-forge]\ndependencies:\n  - python=3.11.5\n  - numpy=1.21.0\n  - pip\n"
         "  - pip:\n    - -r requirements.txt\n")
PYTHON_ENV = "python: \"3.11\"\nbuild_dependencies:\n  - pip==23.0\ndependencies:\n  - -r requirements.txt\n"
FILES = {"requirements.txt": REQUIREMENTS, "conda.yaml": CONDA, "python_env.yaml": PYTHON_ENV}


def approved_waiver(advisory_id="GHSA-8q59-q68h-6hv4", reason="Loader never reads untrusted YAML.") -> Waiver:
    user_model = get_user_model()
    officer, _ = user_model.objects.get_or_create(username="officer-a")
    second, _ = user_model.objects.get_or_create(username="officer-b")
    return Waiver.objects.create(advisory_id=advisory_id, reason=reason, created_by=officer, approved_by=second,
                                 approved_at=timezone.now(), expires_at=timezone.now() + timedelta(days=30))


# FILES' requirements as a lock (what canary and production require): pillow resolved to a fixed version.
LOCK = "".join(f"{pin} \\\n    --hash=sha256:{digit * 64}\n    # via -r requirements.in\n"
               for pin, digit in (("pillow==10.4.0", "1"), ("pyyaml==5.3", "2"), ("requests==2.19.0", "3")))


def scanned_release(user, env="staging", files=FILES, model_name="fraud-detector", lock="") -> Release:
    """A release whose files were scanned and passed (a real report), now BUILDING_IMAGE with a running build.
    `lock`: the dependency lock its fetch made (none: staging's default policy takes a release without one)."""
    release = make_release(user, status=Status.SCANNING_DEPENDENCIES, model_name=model_name, ref="3",
                           model_version="3", mlflow_run_id="0123456789abcdef0123456789abcdef", env=env)
    for name, content in files.items():
        ReleaseFile.objects.create(release=release, name=name, size=len(content),
                                   sha256=hashlib.sha256(content.encode()).hexdigest(), content=content)
    if lock:
        with_lock(release, lock)
    judged = evaluation.evaluate(release)
    assert judged.decision.passed, judged.decision.summary
    evaluation.record(release, judged, Status.SCAN_PASSED)
    Release.objects.filter(pk=release.pk).update(status=Status.BUILDING_IMAGE)
    return Release.objects.get(pk=release.pk)


def complete(release: Release, image_reference: str, digest: str) -> ReleaseEvidence:
    build = Build.objects.create(release=release, backend="webhook",
                                 attempt=Build.objects.filter(release=release).count() + 1,
                                 log_url="https://ci.example/runs/7")
    done = record_completion(uuid.uuid4().hex, {"build_id": build.pk, "status": "succeeded",
                                                "image_reference": image_reference, "digest": digest,
                                                "log_url": "https://ci.example/runs/7"})
    assert done.outcome.value == "recorded", done.detail
    return ReleaseEvidence.objects.get(build=build)

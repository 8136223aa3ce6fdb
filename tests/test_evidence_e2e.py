"""End to end: a real qcluster builds a clean model with buildah into the real docker-registry; the builder's
completion signs the attestation; the push task puts it next to the image; what the registry holds verifies
offline with verify_release."""
import json

import pytest
import requests
from django.core.management import call_command
from django.db import close_old_connections

from devtools import processes
from releases import queue, steps
from releases import registry as oci
from releases.evidence import keys
from releases.models import Release, ReleaseEvidence
from releases.statuses import Status
from tests.factories import make_release
from tests.mlflow_models import CLEAN
from tests.workers import start_qcluster, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.mlflow,
              pytest.mark.usefixtures("restored_environments", "advisories")]


def fresh_evidence(release_id):
    close_old_connections()
    return ReleaseEvidence.objects.filter(release_id=release_id).first()


def test_built_attested_pushed_and_verified_from_the_registry(owner, use_mlflow, registry, settings, tmp_path,
                                                             capsys):
    release = make_release(owner, model_name=CLEAN, ref="2")
    assert steps.fetch_environment(release.pk) == "fetched"
    assert steps.scan_dependencies(release.pk) == "passed"
    Release.objects.filter(pk=release.pk).update(status=Status.BUILDING_IMAGE)  # as if approved
    settings.BUILD_REGISTRY, settings.BUILD_REGISTRY_TLS_VERIFY = f"{registry.address}/models", False
    log = tmp_path / "qcluster.log"
    worker = start_qcluster(log, MLFLOW_TRACKING_URI=settings.MLFLOW_TRACKING_URI, BUILD_BACKEND="local",
                            BUILD_REGISTRY=settings.BUILD_REGISTRY, BUILD_REGISTRY_TLS_VERIFY="false",
                            BUILDAH_ROOT=str(tmp_path / "buildah"))
    try:
        queue.enqueue_step(release.pk, Status.BUILDING_IMAGE)
        wait_for(lambda: (fresh_evidence(release.pk) or ReleaseEvidence()).push_state == "pushed", 150,
                 "the build and the evidence push", worker, log)
    finally:
        processes.stop(worker, whole_group=False)
    release = Release.objects.get(pk=release.pk)
    evidence = fresh_evidence(release.pk)
    assert release.status == Status.SUCCEEDED and evidence.subject_digest == release.image_digest
    repo = evidence.subject_name
    assert repo == oci.parse_reference(release.image_reference).repo_ref
    att, _, _ = oci.get_manifest(repo, release.image_digest.replace(":", "-") + ".att")
    layer = json.loads(att)["layers"][0]["digest"]
    ref = oci.parse_reference(repo)
    from_registry = requests.get(f"http://{ref.host}/v2/{ref.repository}/blobs/{layer}", timeout=10).content
    assert from_registry == evidence.envelope.encode()
    saved, public = tmp_path / "from-registry.att.json", tmp_path / "gateway.pub"
    saved.write_bytes(from_registry)
    public.write_text(keys.public_pem(keys.signing_key().public_key()))
    call_command("verify_release", f"{repo}@{release.image_digest}", "--key", str(public), "--attestation", str(saved))
    out = capsys.readouterr().out
    assert "VERIFIED" in out and f"{CLEAN} version 2" in out and "local attempt 1" in out

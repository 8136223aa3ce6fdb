"""The model-file scan through the whole pipeline: hostile and real models logged to the session's real MLflow
server, fetched, downloaded, scanned and decided on by the worker's steps; limits, outages and policy knobs."""
import hashlib
import pickle
import warnings
from pathlib import Path

import pytest

from releases import model_files, steps
from releases.artifact_scan import vocabulary
from releases.models import Environment, EnvironmentPolicy, ModelFile, Release
from releases.models.model_files import Verdict
from releases.services import retry_release
from releases.statuses import Status, Step
from tests import malicious_artifacts as bad
from tests.factories import make_release
from tests.mlflow_models import CLEAN, CONDA, VULNERABLE
from tests.model_artifacts import MLMODEL_PYFUNC, model, proxy_to, register_files

pytestmark = [pytest.mark.django_db, pytest.mark.mlflow]
MLMODEL_SKLEARN = b"flavors:\n  sklearn:\n    pickled_model: model.pkl\n  python_function: {}\n"
MLMODEL_KERAS = b"flavors:\n  keras: {}\n"
MLMODEL_PYTORCH = b"flavors:\n  pytorch: {}\n"

HOSTILE = {
    "hostile-os-system": (model("model.pkl", bad.os_system_pickle(), MLMODEL_SKLEARN),
                          "model.pkl: posix.system (dangerous)"),
    "hostile-joblib": (model("model.joblib", bad.joblib_file({"m": bad.RunsCommand()}), MLMODEL_SKLEARN),
                       "model.joblib: posix.system (dangerous)"),
    "hostile-torch": (model("data/model.pth", bad.torch_zip(bad.os_system_pickle()), MLMODEL_PYTORCH),
                      "data/model.pth!archive/data.pkl: posix.system (dangerous)"),
    "hostile-keras": (model("model.keras", bad.keras_zip([bad.keras_dense(), bad.keras_lambda()]), MLMODEL_KERAS),
                      "model.keras!config.json:"),
    "hostile-getattr": (model("python_model.pkl", bad.getattr_builtins_eval()),
                        "python_model.pkl: builtins.getattr (dangerous)"),
    # evasion: a pickle under a harmless name, and one inside a zip inside a tar in a subdirectory
    "hostile-renamed": (model("notes/readme.txt", bad.os_system_pickle(0)), "notes/readme.txt: posix.system"),
    "hostile-nested": (model("assets/bundle.tar", bad.tar_of({"inner.zip": bad.zip_of(
        {"weights.bin": bad.os_system_pickle()})})), "assets/bundle.tar!inner.zip!weights.bin: posix.system"),
}


@pytest.fixture(scope="module")
def hostile(mlflow_server):
    return {name: register_files(mlflow_server, name, files) for name, (files, _) in HOSTILE.items()}


@pytest.fixture(scope="module")
def real_models(mlflow_server):
    """scikit-learn models (cloudpickled, and skops: MLflow 3's default) and a pyfunc whose class cloudpickle
    carries by value."""
    import mlflow.pyfunc
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(mlflow_server.url)
    mlflow.set_registry_uri(mlflow_server.url)
    mlflow.set_experiment("model-file-scan-real")
    X = np.random.default_rng(3).random((20, 2))

    class ByValue(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = LogisticRegression().fit(X, X[:, 0] > 0.5)
        for name, fmt in (("real-sklearn", "cloudpickle"), ("real-sklearn-skops", "skops")):
            with mlflow.start_run():
                mlflow.sklearn.log_model(fitted, name="model", serialization_format=fmt,
                                         pip_requirements=["scikit-learn==1.5.2"], registered_model_name=name)
        with mlflow.start_run():
            mlflow.pyfunc.log_model(name="model", python_model=ByValue(), pip_requirements=["requests==2.32.3"],
                                    registered_model_name="real-pyfunc")
    return {"real-sklearn": "1", "real-sklearn-skops": "1", "real-pyfunc": "1"}


def released(owner, name, ref="1", env="staging") -> Release:
    release = make_release(owner, model_name=name, ref=ref, env=env)
    steps.fetch_environment(release.pk)
    release.refresh_from_db()
    if release.status == Status.SCANNING_DEPENDENCIES:
        steps.scan_dependencies(release.pk)
        release.refresh_from_db()
    return release


def test_verdict_choices_are_the_scanners_vocabulary():
    assert set(Verdict.values) == {vocabulary.DANGEROUS, vocabulary.UNREADABLE, vocabulary.UNKNOWN,
                                   vocabulary.EXPECTED, vocabulary.CLEAN}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_model_files_are_blocked_naming_the_file_and_the_call(owner, use_mlflow, advisories, hostile, name):
    expected = HOSTILE[name][1]
    release = released(owner, name)
    assert release.status == Status.SCAN_FAILED, release.status_message
    assert "Model files: " in release.status_message and expected in release.status_message, release.status_message
    event = release.events.get(to_status=Status.SCAN_FAILED)
    assert any(expected in entry for entry in event.data["blocking"]), event.data["blocking"]
    payload = release.model_files.exclude(path__in=["MLmodel", "requirements.txt"]).get()
    assert payload.verdict == Verdict.DANGEROUS
    assert payload.sha256 == hashlib.sha256(HOSTILE[name][0][payload.path]).hexdigest()
    assert payload.size == len(HOSTILE[name][0][payload.path])


def test_keras_lambda_is_named_as_the_layer(owner, use_mlflow, advisories, hostile):
    release = released(owner, "hostile-keras")
    names = {f["name"] for f in release.model_files.get(path="model.keras").findings
             if f["classification"] == "dangerous"}
    assert any("Lambda" in name or "lambda" in name for name in names), names


@pytest.mark.parametrize("name", ["real-sklearn", "real-sklearn-skops", "real-pyfunc"])
def test_real_models_pass_with_their_code_shown(owner, use_mlflow, advisories, real_models, name):
    release = released(owner, name)
    assert release.status == Status.SCAN_PASSED, release.status_message
    rows = {f.path: f for f in release.model_files.all()}
    assert {"MLmodel", "requirements.txt", "conda.yaml", "python_env.yaml"} <= set(rows)
    if name == "real-sklearn-skops":  # MLflow 3's default: a zip of JSON and .npy arrays, no pickle
        skops = rows["model.skops"]
        assert skops.verdict in (Verdict.CLEAN, Verdict.EXPECTED) and skops.format.startswith("zip"), skops.format
        return
    pkl = rows["model.pkl" if name == "real-sklearn" else "python_model.pkl"]
    assert pkl.verdict == Verdict.EXPECTED and pkl.size > 0 and len(pkl.sha256) == 64
    expected = [f for f in pkl.findings if f["classification"] == "expected"]
    if name == "real-sklearn":
        assert any(f["name"].startswith("sklearn.linear_model") for f in expected), expected
    else:  # cloudpickle rebuilds the class: the report shows the code it brings
        assert any(f["name"] == "types.CodeType" and "predict" in f["args"] for f in expected), expected


@pytest.mark.parametrize("name,version", [(CLEAN, "2"), (CONDA, "1"), (VULNERABLE, "1")])
def test_demo_models_files_are_expected(owner, use_mlflow, advisories, name, version):
    release = released(owner, name, ref=version)
    pkl = release.model_files.get(path="python_model.pkl")
    assert pkl.verdict == Verdict.EXPECTED
    assert "Model files" not in release.status_message
    if name == CLEAN:
        assert release.status == Status.SCAN_PASSED, release.status_message


def test_every_file_is_recorded_with_its_digest_in_the_fetch_event(owner, use_mlflow, hostile):
    release = make_release(owner, model_name="hostile-nested", ref="1")
    assert steps.fetch_environment(release.pk) == "fetched"
    release.refresh_from_db()
    assert set(release.model_files.values_list("path", flat=True)) == {"MLmodel", "requirements.txt",
                                                                        "assets/bundle.tar"}
    event = release.events.get(to_status=Status.SCANNING_DEPENDENCIES)
    assert event.data["model_files"]["files"] == 3 and event.data["model_files"]["verdicts"]["dangerous"] == 1
    assert "scanned 3 model file(s): 1 dangerous, 2 clean" in event.message


# --- limits, outages ----------------------------------------------------------------------------------

@pytest.fixture
def proxy(use_mlflow, mlflow_server, settings):
    with proxy_to(mlflow_server.url) as running:
        settings.MLFLOW_TRACKING_URI = running.url
        yield running


@pytest.mark.parametrize("knob,limit,expected", [
    ("MODEL_MAX_FILE_BYTES", 100, "bytes, over the 100-byte limit per model file (MODEL_MAX_FILE_BYTES)"),
    ("MODEL_MAX_TOTAL_BYTES", 1000, "together, over the 1000-byte limit (MODEL_MAX_TOTAL_BYTES)"),
])
def test_over_a_limit_is_refused_before_any_download(owner, proxy, settings, knob, limit, expected):
    setattr(settings, knob, limit)
    release = make_release(owner, model_name=CLEAN, ref="2")
    assert steps.fetch_environment(release.pk) == "failed"
    release.refresh_from_db()
    assert release.status == Status.FAILED and release.failed_step == Step.FETCH
    assert expected in release.status_message and "nothing was downloaded" in release.status_message
    model_downloads = [p for p in proxy.artifact_downloads() if "python_model.pkl" in p]
    assert model_downloads == []  # refused from the listing alone
    assert any("/mlflow-artifacts/artifacts" in p for _, p in proxy.seen)  # the listing did happen
    assert not ModelFile.objects.filter(release=release).exists()


def test_too_many_files_are_refused(owner, proxy, settings):
    settings.MODEL_MAX_FILES = 3
    release = make_release(owner, model_name=CLEAN, ref="2")
    steps.fetch_environment(release.pk)
    release.refresh_from_db()
    assert release.status == Status.FAILED and "more than 3 files (MODEL_MAX_FILES)" in release.status_message


def test_mlflow_cut_off_mid_download_fails_retryably_then_retry_works(owner, proxy, tmp_path):
    proxy.cut = ("python_model.pkl", 10)
    release = make_release(owner, model_name=CLEAN, ref="2")
    assert steps.fetch_environment(release.pk) == "failed"
    release.refresh_from_db()
    assert (release.status, release.failed_step) == (Status.FAILED, Step.FETCH)
    assert "could not be reached while downloading python_model.pkl" in release.status_message, release.status_message
    assert "127.0.0.1" not in release.status_message
    assert not release.files.exists() and not release.model_files.exists()
    proxy.cut = None
    release = retry_release(release, owner)
    assert steps.fetch_environment(release.pk) == "fetched"
    assert Release.objects.get(pk=release.pk).model_files.get(path="python_model.pkl").verdict == Verdict.EXPECTED


def test_a_server_dripping_bytes_is_cut_off_at_the_deadline(owner, proxy, settings):
    import time

    settings.MODEL_FILES_DEADLINE_SECONDS = 2
    proxy.drip = ("python_model.pkl", 0.2)  # a byte every 12 ms: every read answers, the whole takes ~20 s
    release = make_release(owner, model_name=CLEAN, ref="2")
    started = time.monotonic()
    assert steps.fetch_environment(release.pk) == "failed"
    elapsed = time.monotonic() - started
    release.refresh_from_db()
    assert release.failed_step == Step.FETCH and "within 2 s (MODEL_FILES_DEADLINE_SECONDS, while downloading " \
        "python_model.pkl)" in release.status_message, release.status_message
    assert elapsed < 8, f"took {elapsed:.1f} s"


def test_temporary_files_are_removed_after_success_and_failure(owner, proxy, hostile, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert steps.fetch_environment(make_release(owner, model_name="hostile-torch", ref="1").pk) == "fetched"
    assert list(tmp_path.iterdir()) == []
    proxy.cut = ("requirements.txt", 3)  # downloaded after data/model.pth: a file is on disk when it breaks
    assert steps.fetch_environment(make_release(owner, model_name="hostile-torch", ref="1").pk) == "failed"
    assert any("requirements.txt" in p for p in proxy.artifact_downloads())
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_grows_past_its_listing_is_refused_while_streaming(owner, use_mlflow, hostile, settings,
                                                                       monkeypatch):
    real = model_files._check_limits
    monkeypatch.setattr(model_files, "_check_limits", lambda listed: real(
        [model_files._Listed(e.path, 1) for e in listed]))  # the listing says 1 byte each
    settings.MODEL_MAX_FILE_BYTES = 50  # the torch zip is ~700 bytes
    release = make_release(owner, model_name="hostile-torch", ref="1")
    steps.fetch_environment(release.pk)
    release.refresh_from_db()
    assert release.status == Status.FAILED
    assert "went past the 50 bytes per model file (MODEL_MAX_FILE_BYTES)" in release.status_message


def test_a_scan_past_its_deadline_is_unreadable_never_clean(owner, use_mlflow, hostile, monkeypatch, advisories):
    monkeypatch.setattr(model_files._Clock, "over", lambda self: True)  # downloads check() not over()
    monkeypatch.setattr(model_files._Clock, "check", lambda self, doing: None)
    release = released(owner, "hostile-renamed")
    assert release.status == Status.SCAN_FAILED
    row = release.model_files.get(path="notes/readme.txt")
    assert row.verdict == Verdict.UNREADABLE and "did not finish within" in row.findings[0]["reason"]


def test_truncated_pickle_is_unreadable_and_blocks(owner, use_mlflow, mlflow_server, advisories):
    register_files(mlflow_server, "truncated-pickle", model("python_model.pkl", bad.os_system_pickle(2)[:-3]))
    release = released(owner, "truncated-pickle")
    assert release.status == Status.SCAN_FAILED
    assert release.model_files.get(path="python_model.pkl").verdict == Verdict.DANGEROUS  # worst: the call it saw
    assert any(f["classification"] == "unreadable" for f in release.model_files.get(path="python_model.pkl").findings)


# --- policy knobs ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def unknown_model(mlflow_server):
    """A pickle that imports a class of a module no flavor expects (neither dangerous nor expected)."""
    payload = b"\x80\x02cmycompany.features\nScaler\n)\x81."  # GLOBAL, EMPTY_TUPLE, NEWOBJ, STOP
    register_files(mlflow_server, "unknown-import", model("artifacts/scaler.pkl", payload))
    return "unknown-import"


def set_policy(env: str, **knobs) -> EnvironmentPolicy:
    current = EnvironmentPolicy.current_for(Environment.objects.get(name=env).pk)
    current.comment = f"test: {knobs}"
    for key, value in knobs.items():
        setattr(current, key, value)
    current.full_clean()
    current.save()
    return current


def test_unknown_import_blocks_by_default_and_warns_where_relaxed(owner, use_mlflow, advisories, unknown_model):
    release = released(owner, unknown_model)
    assert release.status == Status.SCAN_FAILED
    assert ("artifacts/scaler.pkl: mycompany.features.Scaler (unknown): this file runs `mycompany.features.Scaler` "
            "when loaded; we do not know it to be safe") in release.status_message, release.status_message
    set_policy("staging", model_file_unknown="warn")
    release = released(owner, unknown_model)
    assert release.status == Status.SCAN_PASSED, release.status_message
    report = release.scan_reports.get()
    assert any(w.get("model_file") == "artifacts/scaler.pkl" and w["classification"] == "unknown"
               and "mycompany.features.Scaler" in w["reason"] for w in report.decision["warnings"])
    # relaxed in staging only. No package index here, and canary requires a dependency lock: lifted, as this is
    # about the model-file knob (tests/test_lock_required.py proves canary's lock requirement).
    set_policy("canary", resolve_dependencies="off")
    assert released(owner, unknown_model, env="canary").status == Status.SCAN_FAILED


def test_dangerous_set_to_warn_in_one_environment_passes_there_only(owner, use_mlflow, advisories, hostile):
    # No package index here, and canary requires a dependency lock: lifted, as this is about the model-file knob
    # (tests/test_lock_required.py proves canary's lock requirement).
    set_policy("canary", model_file_dangerous="warn", resolve_dependencies="off")
    canary = released(owner, "hostile-os-system", env="canary")
    assert canary.status == Status.SCAN_PASSED, canary.status_message
    assert "warning(s)" in canary.status_message
    warning = next(w for w in canary.scan_reports.get().decision["warnings"] if w.get("model_file"))
    assert warning["reason"] == "model.pkl: posix.system (dangerous)"
    assert released(owner, "hostile-os-system", env="staging").status == Status.SCAN_FAILED


def test_knobs_refuse_allowing_dangerous_or_unreadable_files():
    from django.core.exceptions import ValidationError

    for knob in ("model_file_dangerous", "model_file_unreadable"):
        with pytest.raises(ValidationError) as refused:
            set_policy("staging", **{knob: "allow"})
        assert knob in refused.value.message_dict


def test_a_knob_holding_a_stray_value_blocks():
    from releases.scanning import model_policy
    from releases.scanning.policy import PolicyRules

    files = [{"path": "m.pkl", "verdict": "unknown", "findings": [
        {"classification": "unknown", "name": "x.Y", "member": "", "kind": "import"}]}]
    blocking, warnings_, _ = model_policy.judge(files, PolicyRules(model_file_unknown="bogus"))
    assert [b["reason"] for b in blocking] == [
        "m.pkl: x.Y (unknown): this file runs `x.Y` when loaded; we do not know it to be safe"] and warnings_ == []


def test_rego_cannot_allow_a_blocked_model_file(owner, use_mlflow, advisories, hostile):
    set_policy("staging", rego_policy="package gateway\n\nallow := true\n")
    release = released(owner, "hostile-os-system")
    assert release.status == Status.SCAN_FAILED and "model.pkl: posix.system" in release.status_message


def test_pickle_made_by_pickle_itself_is_recognised_under_any_name(owner, use_mlflow, mlflow_server, advisories):
    register_files(mlflow_server, "renamed-weights", model("weights.bin", pickle.dumps(bad.RunsCommand(), protocol=2),
                                                           MLMODEL_PYFUNC))
    release = released(owner, "renamed-weights")
    assert release.status == Status.SCAN_FAILED and "weights.bin: posix.system" in release.status_message


def test_admin_sets_the_knobs_and_refuses_allowing_dangerous_files(admin_client):
    staging = EnvironmentPolicy.current_for(Environment.objects.get(name="staging").pk)
    form = {"environment": staging.environment_id, "block_at": "CRITICAL", "unknown_counts_as": "CRITICAL",
            "possible_findings": "warn", "unpinned_requirements": "warn", "unpinned_build_dependencies": "warn",
            "direct_references": "block", "resolve_dependencies": "warn", "model_file_dangerous": "allow",
            "model_file_unreadable": "block",
            "model_file_unknown": "block", "metric_gates": "[]", "required_tags": "[]"}
    url = f"/admin/releases/environmentpolicy/{staging.pk}/change/"
    refused = admin_client.post(url, form)
    assert refused.status_code == 200 and b"Select a valid choice. allow is not one of" in refused.content
    assert EnvironmentPolicy.current_for(staging.environment_id).version == staging.version
    assert admin_client.post(url, {**form, "model_file_dangerous": "warn"}).status_code == 302
    current = EnvironmentPolicy.current_for(staging.environment_id)
    assert (current.version, current.model_file_dangerous, current.model_file_unknown) == (
        staging.version + 1, "warn", "block")


def test_the_attestation_names_every_scanned_model_file_and_a_later_change_is_found(owner, advisories):
    import base64
    import json

    from releases.evidence.stored import verify_stored
    from releases.model_manifest import manifest, manifest_digest
    from tests.evidence_helpers import approved_waiver, complete, scanned_release

    approved_waiver()  # the helpers' files carry a pyyaml advisory that this waiver covers
    release = scanned_release(owner)
    for path, verdict in (("MLmodel", "clean"), ("python_model.pkl", "expected")):
        ModelFile.objects.create(release=release, path=path, size=10, sha256=path[0].lower() * 64, verdict=verdict)
    evidence = complete(release, f"127.0.0.1:5000/models/fraud-detector:v3-r{release.pk}-a1", "sha256:" + "e" * 64)
    model = json.loads(base64.b64decode(json.loads(evidence.envelope)["payload"]))["predicate"]["model"]
    assert model["model_files"] == [
        {"path": "MLmodel", "size": 10, "digest": {"sha256": "m" * 64}, "verdict": "clean"},
        {"path": "python_model.pkl", "size": 10, "digest": {"sha256": "p" * 64}, "verdict": "expected"}]
    assert model["model_files_digest"] == {"sha256": manifest_digest(manifest(release))}
    ModelFile.objects.filter(release=release, path="python_model.pkl").update(sha256="f" * 64)
    assert "the release's scanned model files differ from the attested ones" in verify_stored(
        Release.objects.get(pk=release.pk)).problems


def test_the_scan_report_answer_shows_each_files_imports_and_calls(owner, api, use_mlflow, advisories, hostile,
                                                                   real_models):
    blocked = released(owner, "hostile-torch")
    answer = api.get(f"/api/releases/{blocked.pk}/scan/").json()
    assert answer["model_files_count"] == 3 and answer["model_files_url"].endswith("/scan/model-files/")
    worst = answer["model_files"][0]
    assert (worst["path"], worst["verdict"]) == ("data/model.pth", "dangerous")
    call = next(f for f in worst["findings"] if f["classification"] == "dangerous")
    assert call["member"] == "archive/data.pkl" and call["name"] == "posix.system"
    assert any(b.get("model_file") == "data/model.pth" for b in answer["decision"]["blocking"])
    assert answer["decision"]["model_files"]["verdicts"] == {"dangerous": 1, "clean": 2}

    pyfunc = released(owner, "real-pyfunc")
    listed = api.get(f"/api/releases/{pyfunc.pk}/scan/model-files/?page_size=2").json()
    assert listed["count"] >= 5 and len(listed["results"]) == 2
    every = api.get(f"/api/releases/{pyfunc.pk}/scan/model-files/?page_size=100").json()["results"]
    pkl = next(f for f in every if f["path"] == "python_model.pkl")
    assert pkl["verdict"] == "expected" and pkl["findings_count"] >= len(pkl["findings"]) > 0
    assert any(f["name"] == "types.CodeType" and "predict" in f["args"] for f in pkl["findings"])  # the code it brings


def test_the_dry_run_decides_on_the_model_files_too(api, use_mlflow, advisories, hostile):
    answer = api.post("/api/policy/evaluate/", {"model_name": "hostile-joblib", "model_version": "1",
                                                "environment": "staging"}, format="json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["decision"]["passed"] is False
    assert "model.joblib: posix.system (dangerous)" in body["decision"]["summary"]
    assert body["model_files_count"] == 3 and body["model_files"][0]["path"] == "model.joblib"
    assert not ModelFile.objects.exists()  # a dry run stores nothing


def test_the_dry_run_refuses_a_model_over_the_limit(api, use_mlflow, advisories, settings):
    settings.MODEL_MAX_TOTAL_BYTES = 500
    answer = api.post("/api/policy/evaluate/", {"model_name": CLEAN, "model_version": "2", "environment": "staging"},
                      format="json")
    assert answer.status_code == 422 and "MODEL_MAX_TOTAL_BYTES" in answer.json()["detail"]


def test_an_environment_file_replaced_between_the_two_downloads_is_refused(owner, use_mlflow, mlflow_server,
                                                                          monkeypatch):
    from releases import mlflow_source

    stored = register_files(mlflow_server, "swapped-requirements", model("model.pkl", bad.harmless_pickle()))
    real = mlflow_source.MlflowSource.fetch_files

    def fetch_then_swap(self, resolved):
        files = real(self, resolved)  # the copy the dependency scan reads...
        (stored / "requirements.txt").write_bytes(b"evil-package==6.6.6\n")  # ...and what would ship
        return files

    monkeypatch.setattr(mlflow_source.MlflowSource, "fetch_files", fetch_then_swap)
    release = make_release(owner, model_name="swapped-requirements", ref="1")
    assert steps.fetch_environment(release.pk) == "failed"
    release.refresh_from_db()
    assert release.status == Status.FAILED and release.status_message.startswith(
        "requirements.txt changed in MLflow while the release was being fetched")
    assert not release.model_files.exists() and not release.files.exists()


def test_findings_over_the_release_cap_keep_the_verdict_and_still_block(owner, use_mlflow, advisories, hostile,
                                                                        monkeypatch):
    monkeypatch.setattr(model_files, "MAX_RELEASE_FINDINGS", 0)
    release = released(owner, "hostile-joblib")
    row = release.model_files.get(path="model.joblib")
    assert row.findings == [] and row.findings_omitted > 0 and row.verdict == Verdict.DANGEROUS
    assert release.status == Status.SCAN_FAILED
    assert "model.joblib: (details over the stored limit) (dangerous)" in release.status_message


def test_re_evaluation_keeps_the_model_file_findings(owner, use_mlflow, advisories, unknown_model, tmp_path):
    from releases import jobs
    from tests.osv_records import CRITICAL_V3, record, sync_records

    set_policy("staging", model_file_unknown="warn")
    release = released(owner, unknown_model)
    assert release.status == Status.SCAN_PASSED
    set_policy("staging", model_file_unknown="block")  # tightened while the release waits
    sync_records(tmp_path / "osv2", [record("GHSA-other-0001", "flask", [{"introduced": "0"}], vector=CRITICAL_V3)])
    assert jobs.reevaluate_waiting("advisory sync") == "1 release(s) moved to SCAN_FAILED"
    release.refresh_from_db()
    assert release.status == Status.SCAN_FAILED
    assert "artifacts/scaler.pkl: mycompany.features.Scaler (unknown)" in release.status_message
    latest = release.scan_reports.latest("created_at")
    assert any(b.get("model_file") == "artifacts/scaler.pkl" for b in latest.decision["blocking"])
    assert latest.decision["model_files"]["verdicts"]["unknown"] == 1


def test_a_model_in_another_artifact_store_is_downloaded_by_mlflow_and_still_bounded(
        owner, use_mlflow, mlflow_server, advisories, tmp_path, settings, monkeypatch):
    """A version whose artifacts live in a plain directory (an experiment with a file: location), not behind the
    tracking server's proxy: MLflow's own download, one file at a time, each checked after it arrived."""
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    mlflow.set_tracking_uri(mlflow_server.url)
    experiment = client.create_experiment("file-store", artifact_location=(tmp_path / "store").as_uri())
    files = model("model.pkl", bad.os_system_pickle(), MLMODEL_SKLEARN)
    for path, data in files.items():
        (tmp_path / "model" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "model" / path).write_bytes(data)
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_artifacts(str(tmp_path / "model"), "model")
    assert run.info.artifact_uri.startswith("file:")
    client.create_registered_model("file-store-model")
    client.create_model_version("file-store-model", f"{run.info.artifact_uri}/model", run.info.run_id)
    release = released(owner, "file-store-model")
    assert release.status == Status.SCAN_FAILED and "model.pkl: posix.system (dangerous)" in release.status_message
    assert release.model_files.get(path="model.pkl").sha256 == hashlib.sha256(files["model.pkl"]).hexdigest()
    settings.MODEL_MAX_TOTAL_BYTES = 60  # listed sizes exist here too: refused before download
    failed = make_release(owner, model_name="file-store-model", ref="1")
    assert steps.fetch_environment(failed.pk) == "failed"
    failed.refresh_from_db()
    assert "over the 60-byte limit (MODEL_MAX_TOTAL_BYTES); nothing was downloaded" in failed.status_message
    settings.MODEL_MAX_TOTAL_BYTES, settings.MODEL_MAX_FILE_BYTES = 10**6, 60
    real = model_files._check_limits  # a store whose listing says 1 byte a file: the cap holds after download
    monkeypatch.setattr(model_files, "_check_limits", lambda listed: real([model_files._Listed(e.path, 1)
                                                                           for e in listed]))
    grown = make_release(owner, model_name="file-store-model", ref="1")
    assert steps.fetch_environment(grown.pk) == "failed"
    grown.refresh_from_db()
    assert "MLmodel went past the 60 bytes per model file (MODEL_MAX_FILE_BYTES) when it was downloaded" in (
        grown.status_message)


def test_the_dry_run_answers_within_its_own_deadline(api, proxy, advisories, settings):
    settings.DRY_RUN_MODEL_FILES_DEADLINE_SECONDS = 1
    proxy.drip = ("python_model.pkl", 0.2)
    answer = api.post("/api/policy/evaluate/", {"model_name": CLEAN, "model_version": "2", "environment": "staging"},
                      format="json")
    assert answer.status_code == 503
    assert "within 1 s (DRY_RUN_MODEL_FILES_DEADLINE_SECONDS, while downloading python_model.pkl)" in (
        answer.json()["detail"])


# --- issue 26: gadgets, format confusions and real heavy-library models, through the whole pipeline -----------

MLMODEL_MANY = b"flavors:\n  keras: {}\n  sklearn: {}\n  python_function: {}\n"


@pytest.fixture(scope="module")
def issue26_models(mlflow_server, tmp_path_factory):
    from tests import gadgets

    confusions = gadgets.format_confusions(tmp_path_factory.mktemp("confusions"))
    models = {"gadgets-sklearn": {"MLmodel": MLMODEL_SKLEARN, **gadgets.every_gadget_file()},
              "gadgets-pytorch": {"MLmodel": MLMODEL_PYTORCH, **gadgets.every_gadget_file()},
              "format-confusions": {"MLmodel": MLMODEL_MANY, "requirements.txt": b"Pillow==10.4.0\n", **confusions}}
    for name, files in models.items():
        register_files(mlflow_server, name, files)
    return models


@pytest.mark.parametrize("name", ["gadgets-sklearn", "gadgets-pytorch", "format-confusions"])
def test_every_gadget_and_confusion_blocks_through_the_pipeline(owner, use_mlflow, advisories, issue26_models, name):
    release = released(owner, name)
    assert release.status == Status.SCAN_FAILED, release.status_message
    rows = {row.path: row for row in release.model_files.all()}
    decision = release.scan_reports.get().decision
    blocked_paths = {entry["model_file"] for entry in decision["blocking"] if entry.get("model_file")}
    payloads = [path for path in issue26_models[name] if path not in ("MLmodel", "requirements.txt")]
    for path in payloads:
        assert rows[path].verdict in (Verdict.DANGEROUS, Verdict.UNKNOWN, Verdict.UNREADABLE), path
        assert path in blocked_paths, path
    assert rows["MLmodel"].verdict == Verdict.CLEAN
    if name == "format-confusions":
        assert rows["requirements.txt"].verdict == Verdict.CLEAN  # `Pillow==` is text, not a protocol-0 pickle
    else:
        unknown = [p for p in payloads if rows[p].verdict == Verdict.UNKNOWN]
        assert unknown, "gadgets not on the dangerous list block as unknown"


FIXTURES = Path(__file__).parent / "fixtures" / "models"
HEAVY_MODELS = ("xgboost/booster", "xgboost/sklearn-api", "lightgbm/booster", "lightgbm/sklearn-api",
                "torch/module", "torch/module-pt2")


@pytest.fixture(scope="module")
def heavy_models(mlflow_server):
    for name in HEAVY_MODELS:
        root = FIXTURES / name
        files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
        register_files(mlflow_server, "real-" + name.replace("/", "-"), files)


@pytest.mark.parametrize("name", HEAVY_MODELS)
def test_real_heavy_library_models_pass_with_unknown_blocked(owner, use_mlflow, advisories, heavy_models, name):
    release = released(owner, "real-" + name.replace("/", "-"))
    assert release.status == Status.SCAN_PASSED, release.status_message
    assert set(release.model_files.values_list("verdict", flat=True)) <= {Verdict.CLEAN, Verdict.EXPECTED}


def test_an_approved_waiver_of_that_file_and_callable_lets_an_unknown_import_pass(owner, use_mlflow, advisories,
                                                                                  unknown_model):
    from releases.scanning.model_policy import waiver_id
    from tests.evidence_helpers import approved_waiver

    blocked = released(owner, unknown_model)
    row = blocked.model_files.get(path="artifacts/scaler.pkl")
    assert blocked.status == Status.SCAN_FAILED
    approved_waiver(waiver_id(row.sha256, "mycompany.features.Other"), reason="not this callable")
    assert released(owner, unknown_model).status == Status.SCAN_FAILED
    waiver = approved_waiver(waiver_id(row.sha256, "mycompany.features.Scaler"), reason="our own scaler, reviewed")
    release = released(owner, unknown_model)
    assert release.status == Status.SCAN_PASSED, release.status_message
    assert release.scan_reports.get().decision["waivers_used"] == [waiver.pk]


# --- issue 26, item 3: pyfunc code carried by value, through the whole pipeline --------------------------------
# model -> the callable its code reaches (the closure's value is a name the pickle imports too: one entry)
PYFUNC_BLOCKED = {"os-system": "os.system", "subprocess-run": "subprocess.run", "dynamic-builtin": "builtins.getattr",
                  "closure-gadget": "uuid._get_command_stdout", "nested-class": "uuid._get_command_stdout",
                  "gadget": "pandas.read_pickle"}


@pytest.fixture(scope="module")
def pyfunc_code_models(mlflow_server):
    from devtools import model_corpus
    from tests import pyfunc_models

    for name in set(PYFUNC_BLOCKED) - {"gadget"}:
        register_files(mlflow_server, f"pyfunc-code-{name}",
                       model("python_model.pkl", pyfunc_models.pickled(pyfunc_models.BLOCKED[name]())))
    register_files(mlflow_server, "pyfunc-code-gadget", model("python_model.pkl", pyfunc_models.pickled(
        pyfunc_models.calling("pandas", "read_pickle"))))
    register_files(mlflow_server, "pyfunc-code-ordinary",
                   model("python_model.pkl", pyfunc_models.pickled(pyfunc_models.ordinary())))
    register_files(mlflow_server, "pyfunc-code-corpus", model_corpus.pyfunc_model())


@pytest.mark.parametrize("name", list(PYFUNC_BLOCKED))
def test_pyfunc_code_reaching_a_gadget_blocks_through_the_pipeline(owner, use_mlflow, advisories, pyfunc_code_models,
                                                                   name):
    release = released(owner, f"pyfunc-code-{name}")
    assert release.status == Status.SCAN_FAILED, release.status_message
    row = release.model_files.get(path="python_model.pkl")
    assert row.verdict in (Verdict.DANGEROUS, Verdict.UNKNOWN)
    blocking = release.scan_reports.get().decision["blocking"]
    assert any(entry["name"] == PYFUNC_BLOCKED[name] and entry["model_file"] == "python_model.pkl"
               for entry in blocking), blocking
    assert "Model files: " in release.status_message
    assert any(f["kind"] == "code" for f in row.findings)  # the method, and what it calls


@pytest.mark.parametrize("name", ["ordinary", "corpus"])
def test_pyfunc_code_of_pandas_and_numpy_passes_with_its_reach_shown(owner, use_mlflow, advisories,
                                                                     pyfunc_code_models, name):
    release = released(owner, f"pyfunc-code-{name}")
    assert release.status == Status.SCAN_PASSED, release.status_message
    row = release.model_files.get(path="python_model.pkl")
    assert row.verdict == Verdict.EXPECTED
    calls = {f["name"] for f in row.findings if f["kind"] == "code_call"}
    assert {"pandas.DataFrame", "numpy.exp"} <= calls, calls

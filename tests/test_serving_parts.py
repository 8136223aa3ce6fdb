"""The serving image's parts that need no image: the probe's bounds, the runtime added to a lock, wheel targets."""
import hashlib
import json
import subprocess
import sys
import time

import pytest

from releases.builds import smoke, smoke_probe, wheels
from releases.builds.buildah import BuildFailure
from releases.locking import runtime
from releases.locking.inputs import LockInput

PROBE = [sys.executable, str(smoke.PROBE)]


def probe(command: list[str], timeout: float = 3, example: str | None = None, tmp_path=None) -> tuple[dict, float]:
    args = ["unshare", "--net", "--", *PROBE, "--port", "8080", "--timeout", str(timeout), "--memory-mb", "512"]
    if example is not None:
        path = tmp_path / "input.json"
        path.write_text(example)
        args += ["--input", str(path)]
    started = time.monotonic()
    proc = subprocess.run([*args, "--", *command], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), time.monotonic() - started


def test_a_server_that_never_answers_fails_within_the_bound():
    result, took = probe([sys.executable, "-c", "import time; print('loading', flush=True); time.sleep(60)"])
    assert result == {"passed": False, "message": "the server did not answer /ping in time", "log_tail": "loading"}
    assert took < 10  # the bound (3 s) and start-up, not the server's 60 s


def test_a_server_that_exits_fails_at_once_with_its_last_words():
    result, took = probe([sys.executable, "-c", "import sys; print('cannot load the model'); sys.exit(3)"], timeout=30)
    assert result["passed"] is False and result["message"] == "the server exited with code 3 before answering /ping"
    assert result["log_tail"] == "cannot load the model" and took < 15


SERVER = r'''
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
ANSWER = sys.argv[1].encode()
class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(int(sys.argv[2])); self.end_headers(); self.wfile.write(ANSWER)
HTTPServer(("127.0.0.1", 8080), Handler).serve_forever()
'''


@pytest.mark.parametrize("answer,status,message", [
    ('{"predictions": [0, 1]}', 200, "answered /ping and a prediction for the input example"),
    ('{"result": 1}', 200, '/invocations answered 200, but the answer has no "predictions"'),
    ("not json", 200, "/invocations answered 200, but the answer is not JSON"),
    ('{"message": "Bad input", "stack_trace": "Traceback\\nValueError: Input X contains NaN.\\nmore words"}', 400,
     "/invocations answered HTTP 400: Bad input ValueError: Input X contains NaN."),
])
def test_the_probe_judges_the_answer(tmp_path, answer, status, message):
    result, _took = probe([sys.executable, "-c", SERVER, answer, str(status)], timeout=20,
                          example='{"inputs": [[1.0]]}', tmp_path=tmp_path)
    assert result["message"] == message and result["passed"] is (message.startswith("answered"))
    assert result["endpoint"] == "/invocations" and result["status"] == status
    assert result["input_sha256"] == hashlib.sha256(b'{"inputs": [[1.0]]}').hexdigest()


def test_a_model_without_an_input_example_is_pinged_only():
    result, _took = probe([sys.executable, "-c", SERVER, "{}", "200"], timeout=20)
    assert result["passed"] and result["endpoint"] == "/ping"
    assert result["message"] == "pinged only: the model has no input example"
    assert smoke.describe(result).startswith("Smoke-tested: /ping only")


def test_the_stored_result_keeps_the_answer_by_digest_only():
    assert smoke.stored({"passed": True, "predictions": [1], "answer_sha256": "ab"}) == {"passed": True,
                                                                                       "answer_sha256": "ab"}
    assert smoke_probe.well_formed(b'{"predictions": {"a": [1]}}') == ""


def _input(*names: str) -> LockInput:
    return LockInput(requirements=list(names), constraints=[], python_version="3.11.7",
                     declared={name: [] for name in names})


@pytest.mark.parametrize("declared,added", [
    ((), ["mlflow-skinny==3.17.2", "pandas"]),
    (("scikit-learn",), ["mlflow-skinny==3.17.2", "pandas"]),
    (("mlflow",), ["pandas"]),  # the model's own MLflow is the server, at the version it declares
    (("mlflow-skinny", "pandas"), []),
])
def test_the_serving_runtime_is_added_to_what_is_locked(declared, added):
    lock_input = runtime.with_runtime(_input(*declared))
    assert lock_input.requirements == [*declared, *added]
    assert bool(added) is any("serving runtime" in note for note in lock_input.notes)


def test_wheel_targets_cover_every_manylinux_the_lock_admits():
    tags = wheels.platform_tags("x86_64-manylinux_2_28")
    assert tags[0] == "manylinux_2_28_x86_64" and "manylinux_2_17_x86_64" in tags
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert "manylinux_2_29_x86_64" not in tags
    with pytest.raises(BuildFailure):
        wheels.platform_tags("win_amd64")


STATUS = """Package: python3.11-minimal
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 3.11.2-6+deb12u6
Description: Minimal subset of the Python language
 a continuation line: Version: 9.9

Package: removed-tool
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: held-lib
Status: hold ok installed
Architecture: all
Version: 2:1.2~rc1-3
"""


def test_the_dpkg_database_gives_the_installed_packages_only(tmp_path):
    from releases.builds import os_packages

    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text(STATUS)
    (tmp_path / "usr/lib").mkdir(parents=True)
    (tmp_path / "usr/lib/os-release").write_text('PRETTY_NAME="Debian GNU/Linux 12"\nID=debian\nVERSION_ID="12"\n')
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").symlink_to("../usr/lib/os-release")
    found = os_packages.read_root(tmp_path)
    assert found["distro"] == "debian-12"
    assert [(p["name"], p["version"], p["arch"]) for p in found["packages"]] == [
        ("held-lib", "2:1.2~rc1-3", "all"), ("python3.11-minimal", "3.11.2-6+deb12u6", "amd64")]
    assert os_packages.read_root(tmp_path / "nothing-here") == {"distro": "", "packages": []}


@pytest.mark.django_db
def test_the_sbom_lists_the_images_os_packages_with_deb_purls(owner):
    from releases.evidence.sbom import build_sbom
    from releases.models import Build
    from tests.factories import make_release

    release = make_release(owner)
    build = Build(release=release, backend="local", image_digest="sha256:" + "ab" * 32, os_packages={
        "distro": "debian-12", "packages": [{"name": "python3.11-minimal", "version": "3.11.2-6+deb12u6",
                                              "arch": "amd64"}]})
    sbom = json.loads(build_sbom(release, build, None, "registry.local/models/m"))
    purls = [c.get("purl") for c in sbom["components"]]
    assert "pkg:deb/debian/python3.11-minimal@3.11.2-6%2Bdeb12u6?arch=amd64&distro=debian-12" in purls
    assert any(d["ref"] == "image" and "os-package-0" in d["dependsOn"] for d in sbom["dependencies"])


def test_the_input_example_is_read_bounded_and_only_as_a_plain_file(tmp_path):
    assert smoke.example_of(tmp_path) is None  # none: pinged only
    example = tmp_path / "serving_input_example.json"
    example.write_text('{"inputs": [[1]]}')
    assert smoke.example_of(tmp_path) == b'{"inputs": [[1]]}'
    example.write_bytes(b" " * (smoke.MAX_EXAMPLE_BYTES + 1))
    with pytest.raises(BuildFailure, match="is over 1048576 bytes"):
        smoke.example_of(tmp_path)
    example.unlink()
    example.symlink_to("/etc/passwd")
    with pytest.raises(BuildFailure, match="not a plain file"):
        smoke.example_of(tmp_path)


def test_the_venv_keeps_no_test_suites_and_unchecked_bytecode(tmp_path):
    """serving.tidy_script on a venv-shaped tree: test suites inside packages go, anything else stays, and every
    module that stays gets an unchecked-hash pyc (flags 0b01: hash-based, source not checked at import)."""
    from releases.builds import serving

    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    files = {"pkg/__init__.py": "", "pkg/core.py": "X = 1\n", "pkg/tests/__init__.py": "",
             "pkg/tests/test_core.py": "def test(): pass\n", "pkg/sub/tests/data/conftest.py": "",
             "pkg/test/helpers.py": "Y = 2\n",  # called `test`, but no pytest module in it: not a test suite
             "tests/test_top.py": "",  # a top-level `tests` package some wheels ship: not a package's own suite
             "pkg/broken.py": "print 'python 2'\n"}
    for name, text in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    (tmp_path / "venv" / "bin").mkdir()
    (tmp_path / "venv" / "bin" / "python").symlink_to(sys.executable)
    subprocess.run(["sh", "-c", "set -e; " + serving.tidy_script(str(tmp_path / "venv"))], check=True, timeout=60)
    assert not (site / "pkg" / "tests").exists() and not (site / "pkg" / "sub" / "tests").exists()
    assert (site / "pkg" / "test" / "helpers.py").exists() and (site / "tests" / "test_top.py").exists()
    tag = sys.implementation.cache_tag
    for module in ("pkg/core.py", "pkg/__init__.py", "pkg/test/helpers.py"):
        path = site / module
        pyc = path.parent / "__pycache__" / f"{path.stem}.{tag}.pyc"
        assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01, module
    assert not (site / "pkg" / "__pycache__" / f"broken.{tag}.pyc").exists()  # left without bytecode, no failure

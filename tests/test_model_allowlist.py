"""Issue 26 in the scanner and the decision: what is not on the flavor's allowlist blocks, gadgets reached by every
opcode block, format confusions block, text is text. The decision is model_policy.judge under the default
policy (PolicyRules()), as the worker makes it; tests/test_model_file_scan.py runs the same files through
the whole pipeline (MLflow, fetch, scan, decision)."""
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from releases.artifact_scan import scan_files
from releases.artifact_scan.allowlist import ALLOWED as ALLOWLIST
from releases.artifact_scan.vocabulary import CLEAN, EXPECTED, UNKNOWN, classify
from releases.models import EnvironmentPolicy
from releases.scanning import model_policy
from releases.scanning.policy import PolicyRules
from tests import gadgets
from tests.conftest import token_client

FLAVOR_SETS = {"no-mlmodel": (), "sklearn": ("python_function", "sklearn"), "pyfunc": ("python_function",),
               "pytorch": ("python_function", "pytorch"), "keras": ("keras",)}


def decide(files: dict[str, bytes], flavors, rules=None):
    """(blocking entries, the scan report) for `files` under `rules` (default: the built-in default policy)."""
    report = scan_files([(path, io.BytesIO(data)) for path, data in files.items()], flavors=flavors)
    rows = {}
    for file in report.files:
        top, _, member = file.path.partition("!")
        row = rows.setdefault(top, {"path": top, "verdict": CLEAN, "findings": []})
        row["findings"] += [{"member": member, "kind": f.kind, "name": f.name, "classification": f.classification,
                             "reason": f.reason} for f in file.findings]
    blocking, _warnings, _omitted = model_policy.judge(list(rows.values()), rules or PolicyRules())
    return blocking, report


def test_unknown_blocks_by_default_in_the_model_and_the_rules():
    assert PolicyRules().model_file_unknown == "block"
    assert EnvironmentPolicy._meta.get_field("model_file_unknown").default == "block"


@pytest.mark.django_db
def test_every_environment_has_a_policy_version_that_blocks_unknown():
    from releases.models import Environment

    for environment in Environment.objects.all():
        assert EnvironmentPolicy.current_for(environment.pk).model_file_unknown == "block", environment.name


def test_the_report_says_plainly_what_an_unknown_import_does():
    blocking, _ = decide({"m.pkl": gadgets.gadget_pickle("mycompany.features", "Scaler", "STACK_GLOBAL")}, ())
    assert [b["reason"] for b in blocking] == [
        "m.pkl: mycompany.features.Scaler (unknown): this file runs `mycompany.features.Scaler` when loaded; "
        "we do not know it to be safe"]


def test_staging_may_relax_unknown_to_warn_but_dangerous_stays_blocked():
    relaxed = PolicyRules(model_file_unknown="warn")
    assert decide({"m.pkl": gadgets.gadget_pickle("mycompany.features", "Scaler", "GLOBAL")}, (), relaxed)[0] == []
    blocking, _ = decide({"m.pkl": gadgets.gadget_pickle("subprocess", "getoutput", "GLOBAL")}, (), relaxed)
    assert blocking and blocking[0]["classification"] == "dangerous"


@pytest.mark.parametrize("opcode", gadgets.OPCODES)
@pytest.mark.parametrize("module,name,what", gadgets.GADGETS, ids=[f"{m}.{n}" for m, n, _ in gadgets.GADGETS])
def test_every_gadget_blocks_by_every_opcode_under_every_flavor(module, name, what, opcode):
    data = gadgets.gadget_pickle(module, name, opcode)
    for label, flavors in FLAVOR_SETS.items():
        blocking, report = decide({"payload.pkl": data}, flavors)
        assert any(f"{module}.{name}" in b["reason"] for b in blocking), (label, what, [
            f.to_dict() for f in report.files])


def test_there_are_at_least_twenty_gadgets_most_of_them_not_on_the_dangerous_list():
    unknown = [f"{m}.{n}" for m, n, _ in gadgets.GADGETS if classify(f"{m}.{n}", ())[0] == UNKNOWN]
    assert len(gadgets.GADGETS) >= 20 and len(unknown) >= 8, unknown


def test_format_confusions_block(tmp_path):
    for path, data in gadgets.format_confusions(tmp_path).items():
        blocking, report = decide({path: data}, ("keras", "python_function", "sklearn"))
        assert blocking, (path, [f.to_dict() for f in report.files])


def test_polyglots_are_named_as_such(tmp_path):
    for path, data in {"t.tar": gadgets.tar_pickle_polyglot(), "m.keras": gadgets.zip_behind_pickle(),
                       "w.h5": gadgets.hdf5_with_user_block(tmp_path, 512, b"\x80\x04N.")}.items():
        _, report = decide({path: data}, ())
        assert any("polyglot" in f.reason for f in report.files[0].findings), [f.to_dict() for f in report.files]


@pytest.mark.parametrize("spelling", gadgets.OBJECT_SPELLINGS)
def test_every_spelling_of_an_object_dtype_is_read_as_a_pickle(spelling):
    system = b"\x80\x02cos\nsystem\nVid\n\x85R."
    _, report = decide({"a.npy": gadgets.npy_with_header(spelling, system)}, ())
    assert report.files[0].format == "npy/pickle" and report.files[0].verdict == "dangerous"


def test_a_plain_npy_array_is_data():
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.arange(10.0))
    blocking, report = decide({"a.npy": buffer.getvalue()}, ())
    assert blocking == [] and report.files[0].format == "npy"


@pytest.mark.parametrize("user_block", [512, 4096, 65536])
def test_hdf5_behind_any_user_block_is_read(tmp_path, user_block):
    data = gadgets.hdf5_with_user_block(tmp_path, user_block, b"notes\n", gadgets.LAMBDA_CONFIG)
    _, report = decide({"m.h5": data}, ("keras",))
    assert report.files[0].format.startswith("keras-h5") and report.files[0].verdict == "dangerous"


def test_hdf5_behind_a_user_block_past_what_is_read_at_the_start_blocks(tmp_path):
    data = gadgets.hdf5_with_user_block(tmp_path, 4 * 1024 * 1024, b"notes\n")
    blocking, report = decide({"m.h5": data}, ("keras",))
    assert blocking and any("HDF5 superblock after a 4194304-byte user block" in f.reason
                            for f in report.files[0].findings), [f.to_dict() for f in report.files]


TEXT_FILES = {
    "requirements.txt": b"Pillow==10.4.0\nPyYAML==6.0.2\nscikit-learn==1.5.2\n",
    "requirements-yaml.txt": b"PyYAML==6.0.2\n",
    "README": b"Please read the model card before use.\n",
    "README.md": "Précis: a model — in UTF-8.\n".encode(),
    "conda.yaml": b"channels:\n- conda-forge\ndependencies:\n- python=3.11\n- pip\n- pip:\n  - mlflow\nname: env\n",
    "MLmodel": b"artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.sklearn\n",
    "python_env.yaml": b"python: 3.11.7\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n",
    "input_example.json": b'{"columns": ["a"], "data": [[1]]}',
    "list.json": b"[1, 2, 3]\n",
    "notes.txt": b"cat\nthis is not a module path\n",
    "empty": b"",
}


def test_text_is_text():
    blocking, report = decide(TEXT_FILES, ("python_function", "sklearn"))
    assert blocking == [], blocking
    assert {f.path: f.format for f in report.files if f.format not in ("text", "json", "empty")} == {}


@pytest.mark.parametrize("cut", [60, 300, 1000])
def test_text_whose_sample_ends_inside_a_character_is_still_text(cut):
    text = ("é" * 40_000).encode()[:2 * 32_768 + 1]  # the 64 KiB sample ends inside a two-byte character
    assert decide({"README": text[:cut] + text}, ())[0] == []


# --- property: a disallowed global that pickle.load would reach never passes ----------------------------
ALLOWED = sorted(name for flavor, name, _source in ALLOWLIST if flavor == "common")
DISALLOWED = [f"{m}.{n}" for m, n, _ in gadgets.GADGETS] + ["mycompany.features.Scaler", "os.system"]


def _global(dotted: str, how: str, memo: list) -> bytes:
    module, _, name = dotted.rpartition(".")
    if how == "GLOBAL":
        return b"c" + module.encode() + b"\n" + name.encode() + b"\n"
    if how == "MEMO":  # STACK_GLOBAL whose names come back from the memo
        at = len(memo)
        memo.append(dotted)
        return (gadgets._short(module) + b"\x94" + gadgets._short(name) + b"\x94" + b"h" + bytes([at])
                + b"h" + bytes([at + 1]) + b"\x93")
    return gadgets._short(module) + gadgets._short(name) + b"\x93"


@st.composite
def opcode_streams(draw):
    """A list built of calls to allowed and disallowed globals, each reached by a drawn opcode; maybe cut short.
    Returns (bytes, whether pickle.load reaches a disallowed import before the data ends)."""
    proto = draw(st.sampled_from([None, 2, 4]))
    out = bytearray(b"" if proto is None else b"\x80" + bytes([proto]))
    out += b"]("  # EMPTY_LIST, MARK
    memo: list = []
    reach_ends = []  # byte offset where each disallowed import is complete
    for _ in range(draw(st.integers(1, 6))):
        dotted = draw(st.sampled_from(DISALLOWED) if draw(st.booleans()) else st.sampled_from(ALLOWED))
        how = draw(st.sampled_from(["GLOBAL", "STACK", "MEMO", "INST", "OBJ"]))
        if proto is None and how in ("STACK", "MEMO"):
            how = "GLOBAL"
        module, _, name = dotted.rpartition(".")
        if how == "INST":
            piece = b"(Vx\ni" + module.encode() + b"\n" + name.encode() + b"\n"
            end_of_import = len(out) + len(piece)
        elif how == "OBJ":
            head = b"(" + _global(dotted, "GLOBAL", memo)
            piece, end_of_import = head + b"Vx\no", len(out) + len(head)
        else:
            glob = _global(dotted, how, memo)
            piece, end_of_import = glob + b"(Vx\ntR", len(out) + len(glob)
        out += piece
        if dotted in DISALLOWED:
            reach_ends.append(end_of_import)
    out += b"e."  # APPENDS, STOP
    data = bytes(out)
    if draw(st.booleans()):
        data = data[:draw(st.integers(1, len(data)))]
    return data, any(end <= len(data) for end in reach_ends)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(opcode_streams(), st.sampled_from(sorted(FLAVOR_SETS)))
def test_a_reachable_disallowed_global_never_passes(stream, flavor_set):
    data, reachable = stream
    blocking, report = decide({"model.pkl": data}, FLAVOR_SETS[flavor_set])
    if reachable:
        assert blocking, [f.to_dict() for f in report.files]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(ALLOWED), min_size=1, max_size=5))
def test_complete_streams_of_allowed_globals_pass(names):
    body = b"".join(_global(n, "STACK", []) + b"N\x85R" for n in names)
    data = b"\x80\x04(" + body + b"l."
    blocking, report = decide({"model.pkl": data}, ())
    assert blocking == [], [f.to_dict() for f in report.files]
    assert report.files[0].verdict == EXPECTED


# --- a waiver covers one unknown import in one exact file, approved by two security officers ------------------
def _row(data: bytes, path="m.pkl"):
    import hashlib

    _, report = decide({path: data}, ())
    return {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "verdict": report.files[0].verdict,
            "findings": [{"member": "", "kind": f.kind, "name": f.name, "classification": f.classification,
                          "reason": f.reason} for f in report.files[0].findings]}


def _evaluate(rows, waivers):
    from django.utils import timezone

    from releases.scanning.policy import evaluate

    return evaluate([], [], PolicyRules(environment="staging"), waivers, model_name="m", now=timezone.now(),
                    model_files=rows)


def test_a_model_file_waiver_covers_only_that_file_and_that_callable():
    from releases.scanning.policy import WaiverRule

    unknown = _row(gadgets.gadget_pickle("mycompany.features", "Scaler", "STACK_GLOBAL"))
    exact = WaiverRule(id=7, advisory_id=model_policy.waiver_id(unknown["sha256"], "mycompany.features.Scaler"))
    decision = _evaluate([unknown], [exact])
    assert decision.passed and decision.waivers_used == [7] and "waived by waiver #7" in decision.waived[0]["reason"]
    other_file = _row(gadgets.gadget_pickle("mycompany.features", "Scaler", "GLOBAL"), path="n.pkl")
    assert not _evaluate([other_file], [exact]).passed  # another digest
    other_name = WaiverRule(id=8, advisory_id=model_policy.waiver_id(unknown["sha256"], "mycompany.features.Other"))
    assert not _evaluate([unknown], [other_name]).passed
    dangerous = _row(gadgets.gadget_pickle("subprocess", "getoutput", "GLOBAL"))
    waiver = WaiverRule(id=9, advisory_id=model_policy.waiver_id(dangerous["sha256"], "subprocess.getoutput"))
    assert not _evaluate([dangerous], [waiver]).passed  # dangerous is never waived


@pytest.mark.django_db
def test_model_file_waivers_are_exact_and_need_a_second_officer(django_user_model):
    from datetime import timedelta

    from django.contrib.auth.models import Group
    from django.utils import timezone

    from releases.policies import active_waivers

    group = Group.objects.get(name="security-officers")
    alice, bob = (django_user_model.objects.create_user(n) for n in ("sec-alice", "sec-bob"))
    for user in (alice, bob):
        user.groups.add(group)
    unknown = _row(gadgets.gadget_pickle("mycompany.features", "Scaler", "STACK_GLOBAL"))
    body = {"advisory_id": model_policy.waiver_id(unknown["sha256"], "mycompany.features.Scaler"),
            "reason": "Our own scaler, reviewed.", "expires_at": (timezone.now() + timedelta(days=7)).isoformat()}
    for bad in ({"advisory_id": "model-file:abc:mycompany.features.Scaler"},
                {"advisory_id": f"model-file:{unknown['sha256']}:*"}, {"package": "numpy"}):
        assert token_client(alice).post("/api/waivers/", {**body, **bad}, format="json").status_code == 400, bad
    created = token_client(alice).post("/api/waivers/", body, format="json")
    assert created.status_code == 201, created.content
    assert not _evaluate([unknown], active_waivers()).passed  # pending: one officer is not enough
    assert token_client(alice).post(f"/api/waivers/{created.json()['id']}/approve/").status_code == 403
    assert token_client(bob).post(f"/api/waivers/{created.json()['id']}/approve/").status_code == 200
    assert _evaluate([unknown], active_waivers()).passed

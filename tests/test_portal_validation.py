"""The portal checks a model reference before sending it; its rules (frontend/src/lib/validation.js) must
accept and refuse exactly what the API's (releases/validators.py) do, or a user is told one thing and
the server another. Both are run on the same inputs: the JS under Node, the Python here."""
import json
import subprocess
from pathlib import Path

from django.core.exceptions import ValidationError

from releases import validators

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["fraud-detector", "a", "A.b_c-d 2", "catalog.schema.model", "", " lead", "trail ", "a/b", "a\\b", "a..b",
         "-dash", "_under", ".dot", "tab\tin", "nul\x00", "del\x7f", "ünïcode", "x" * 256, "x" * 257, "emoji😀",
         "semi;colon", "quote'", "9lives", "a  b"]
VERSIONS = ["1", "12", "0", "01", "-1", "1.0", "", " 1", "1234567890", "12345678901", "１", "v1", "1e3"]
ALIASES = ["champion", "@champion", "_x", "x-y_z9", "", "@", "9x", "-x", "a b", "@@x", "x" * 255, "x" * 256,
           "@" + "x" * 255, "ä", "x.y"]


def python_verdicts() -> dict:
    def ok(check, value):
        try:
            check(value)
            return True
        except ValidationError:
            return False

    return {
        "names": [ok(validators.validate_model_name, v) for v in NAMES],
        "versions": [ok(validators.validate_model_version, v) for v in VERSIONS],
        "aliases": [ok(validators.validate_model_alias, validators.normalise_alias(v)) for v in ALIASES],
    }


def js_verdicts() -> dict:
    script = (
        "import { modelNameError, versionError, aliasError } from './frontend/src/lib/validation.js';\n"
        "const [names, versions, aliases] = JSON.parse(process.argv[1]);\n"
        "console.log(JSON.stringify({names: names.map(v => modelNameError(v) === null),"
        " versions: versions.map(v => versionError(v) === null), aliases: aliases.map(v => aliasError(v) === null)}));"
    )
    result = subprocess.run(["node", "--input-type=module", "-e", script, json.dumps([NAMES, VERSIONS, ALIASES])],
                            cwd=ROOT, capture_output=True, text=True, timeout=30, check=True)
    return json.loads(result.stdout)


def test_portal_and_api_agree_on_every_model_reference():
    py, js = python_verdicts(), js_verdicts()
    for kind, inputs in (("names", NAMES), ("versions", VERSIONS), ("aliases", ALIASES)):
        disagree = [(v, p, j) for v, p, j in zip(inputs, py[kind], js[kind], strict=True) if p != j]
        assert disagree == [], f"{kind}: (input, API accepts, portal accepts) {disagree}"
    assert any(py["names"]) and not all(py["names"])  # the corpus has both kinds

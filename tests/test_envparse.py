"""Every requirement form the environment parser must understand."""
import pytest

from releases.scanning.conda import SpecRefused
from releases.scanning.conda import parse_spec as parse_conda_spec
from releases.scanning.envparse import normalise_name, parse_environment


def deps(files):
    return {(d.name, d.source_file): d for d in parse_environment(files).dependencies}


def one(text, filename="requirements.txt"):
    parsed = parse_environment({filename: text})
    assert len(parsed.dependencies) == 1 and not parsed.errors, ([d.as_dict() for d in parsed.dependencies],
                                                                 parsed.errors)
    return parsed.dependencies[0]


def errors(files):
    return [(e.file, e.line, e.message) for e in parse_environment(files).errors]


@pytest.mark.parametrize("line,name,spec,version", [
    ("requests==2.19.0", "requests", "==2.19.0", "2.19.0"),
    ("PyYAML == 5.3.1", "pyyaml", "==5.3.1", "5.3.1"),
    ("scikit_learn>=1.0,<2", "scikit-learn", "<2,>=1.0", None),
    ("numpy~=1.19.0", "numpy", "~=1.19.0", None),
    ("torch===2.1.0+cu118", "torch", "===2.1.0+cu118", "2.1.0+cu118"),
    ("flask", "flask", "", None),
    ("Django.Utils==1.0", "django-utils", "==1.0", "1.0"),
    ("pandas==2.*", "pandas", "==2.*", None),
])
def test_pins_and_ranges(line, name, spec, version):
    dep = one(line)
    assert (dep.name, dep.specifier, dep.version, dep.line) == (name, spec, version, 1)


def test_extras_and_markers_are_kept_and_the_dependency_still_scanned():
    dep = one('requests[security,socks]==2.19.0 ; python_version < "3.12"')
    assert dep.extras == ["security", "socks"] and dep.version == "2.19.0"
    assert dep.marker == 'python_version < "3.12"' and dep.matchable


def test_comments_hashes_and_continuations():
    text = ("# full comment\n\n"
            "pyyaml==5.3.1 \\\n"
            "    --hash=sha256:aaaa \\\n"
            "    --hash=sha256:bbbb\n"
            "pillow==8.0.0  # inline comment\n"
            "requests==2.19.0 --hash sha256:cccc\n")
    found = {d.name: d for d in parse_environment({"requirements.txt": text}).dependencies}
    assert found["pyyaml"].version == "5.3.1" and found["pyyaml"].line == 3
    assert found["pillow"].version == "8.0.0" and found["pillow"].line == 6
    assert found["requests"].version == "2.19.0"


@pytest.mark.parametrize("line,kind,name", [
    ("git+https://github.com/org/lib.git@v1.0#egg=my-lib", "vcs", "my-lib"),
    ("mylib @ git+https://github.com/org/lib.git@v1.0", "vcs", "mylib"),
    ("foo @ https://example.com/foo-1.0.tar.gz", "url", "foo"),
    ("https://example.com/pkgs/bar-2.0.tar.gz", "url", "bar"),
    ("./vendor/baz", "path", "baz"),
    ("-e ./local/pkg", "path", "pkg"),
    ("-e git+https://github.com/org/qux.git#egg=qux", "vcs", "qux"),
    ("file:///opt/wheels/quux-1.0-py3-none-any.whl", "path", "quux"),
])
def test_url_vcs_and_path_requirements_are_listed_not_matched(line, kind, name):
    dep = one(line)
    assert (dep.kind, dep.name, dep.matchable) == (kind, name, False)
    assert dep.url


def test_index_options_are_listed_as_package_sources_and_unknown_options_refused():
    parsed = parse_environment({"requirements.txt": "--index-url https://x/simple\n-i https://y\n"
                                                    "--extra-index-url https://z\n--weird-flag\nflask==2.0\n"})
    assert [d.name for d in parsed.dependencies if d.kind == "registry"] == ["flask"]
    assert sorted(d.url for d in parsed.dependencies if d.kind == "index") == [
        "--extra-index-url https://z", "--index-url https://x/simple", "--index-url https://y"]
    assert [(e.line, "no such option: --weird-flag" in e.message) for e in parsed.errors] == [(4, True)]


def test_invalid_line_is_an_error_with_its_line_number():
    parsed = parse_environment({"requirements.txt": "ok==1.0\nthis is not valid ===\n"})
    assert [d.name for d in parsed.dependencies] == ["ok"]
    assert parsed.errors[0].line == 2 and "not a valid requirement" in parsed.errors[0].message


def test_includes_resolve_among_given_files_only_and_every_file_is_read():
    files = {"requirements.txt": "-r extra.txt\n-r missing.txt\nflask==2.0\n", "extra.txt": "pyyaml==5.3.1\n"}
    parsed = parse_environment(files)
    found = {d.name: d for d in parsed.dependencies}
    assert found["pyyaml"].source_file == "extra.txt" and found["pyyaml"].line == 1
    assert [(e.file, e.line) for e in parsed.errors] == [("requirements.txt", 2)]
    assert "missing.txt" in parsed.errors[0].message
    assert len(parsed.dependencies) == 2  # extra.txt, also read on its own, is merged, not listed twice


def test_include_cycle_is_an_error_as_in_pip():
    parsed = parse_environment({"requirements.txt": "-r b.txt\na==1\n", "b.txt": "-r requirements.txt\nb==1\n"})
    assert {d.name for d in parsed.dependencies} == {"a", "b"}
    assert any("includes a file that includes it" in e.message for e in parsed.errors)


def test_constraints_narrow_versions_and_their_pins_are_scanned_as_constraints():
    files = {"requirements.txt": "-c constraints.txt\nrequests>=2.0\n",
             "constraints.txt": "requests==2.19.0\nnot-required==9.9\n"}
    found = {(d.name, d.role): d for d in parse_environment(files).dependencies}
    assert found[("requests", "runtime")].version == "2.19.0"
    assert "constraint constraints.txt:1" in found[("requests", "runtime")].also_in
    assert found[("not-required", "runtime")].version == "9.9"  # constraints.txt is also read as a root


def test_a_constraint_only_pin_is_scanned_with_the_constraint_role():
    files = {"conda.yaml": "dependencies:\n  - pip:\n    - -c requirements.txt\n    - pandas\n",
             "requirements.txt": "pandas==2.0.0\npyyaml==5.3.1\n"}
    found = {(d.name, d.source_file): d for d in parse_environment(files).dependencies}
    assert found[("pandas", "conda.yaml")].version == "2.0.0"  # narrowed by the constraint
    assert found[("pyyaml", "requirements.txt")].version == "5.3.1"


CONDA = """name: model-env
channels:
  - conda-forge
dependencies:
  - python=3.11
  - conda-forge::numpy=1.19.0=py38h0a1b2c3_0
  - scipy>=1.5,<2
  - pandas=2.2
  - openssl 3.0.13 h4ab18f5_1
  - pytorch==2.1.0
  - libgcc-ng
  - pip<=24
  - pip:
      - mlflow==2.9.0
      - -r requirements.txt
"""


def test_conda_yaml_dependencies_and_pip_section():
    files = {"conda.yaml": CONDA, "requirements.txt": "pyyaml==5.3.1\n"}
    found = deps(files)
    numpy = found[("numpy", "conda.yaml")]
    assert (numpy.version, numpy.ecosystem, numpy.matchable, numpy.line) == ("1.19.0", "conda", True, 6)
    assert found[("scipy", "conda.yaml")].specifier == "<2,>=1.5"
    assert found[("pandas", "conda.yaml")].specifier == "==2.2.*"  # conda's "=2.2" means 2.2.*
    assert found[("pandas", "conda.yaml")].version is None
    assert found[("torch", "conda.yaml")].version == "2.1.0"  # mapped from pytorch
    assert found[("torch", "conda.yaml")].raw_name == "pytorch"
    for conda_only in ("python", "openssl", "libgcc-ng", "pip"):
        assert found[(conda_only, "conda.yaml")].matchable is False, conda_only
    assert found[("mlflow", "conda.yaml")].version == "2.9.0" and found[("mlflow", "conda.yaml")].line == 14
    assert found[("pyyaml", "requirements.txt")].version == "5.3.1"


@pytest.mark.parametrize("spec,expected", [
    ("numpy", ("numpy", "", None)),
    ("numpy=1.19.0", ("numpy", "==1.19.0", "1.19.0")),
    ("numpy=1.19", ("numpy", "==1.19.*", None)),
    ("numpy=1.19.*", ("numpy", "==1.19.*", None)),
    ("numpy==1.19.0", ("numpy", "==1.19.0", "1.19.0")),
    ("numpy=1.19.0=py38_0", ("numpy", "==1.19.0", "1.19.0")),
    ("numpy 1.19.0 py38_0", ("numpy", "==1.19.0", "1.19.0")),
    ("defaults::numpy>=1.19", ("numpy", ">=1.19", None)),
])
def test_conda_spec_forms(spec, expected):
    assert parse_conda_spec(spec) == expected


@pytest.mark.parametrize("spec", ["numpy=1.19|1.20", "numpy[version='1.19.0']", "numpy 1.19 py38 extra", "!numpy",
                                  "numpy>=1.x.y"])
def test_conda_specs_the_gateway_cannot_read_to_one_version_set_are_refused(spec):
    with pytest.raises(SpecRefused):
        parse_conda_spec(spec)


def test_python_env_yaml_build_dependencies_and_include():
    files = {"python_env.yaml": "python: 3.11.7\nbuild_dependencies:\n  - pip==23.3\n  - setuptools\n"
                                "dependencies:\n  - -r requirements.txt\n",
             "requirements.txt": "mlflow==2.9.0\n"}
    found = deps(files)
    assert found[("python", "python_env.yaml")].matchable is False
    assert found[("pip", "python_env.yaml")].version == "23.3"  # a PyPI pin here, matched
    assert found[("pip", "python_env.yaml")].role == "build"
    assert found[("setuptools", "python_env.yaml")].specifier == ""
    assert found[("setuptools", "python_env.yaml")].role == "build"
    assert found[("mlflow", "requirements.txt")].version == "2.9.0"


def test_duplicates_across_files_are_merged_with_their_other_locations():
    files = {"conda.yaml": "dependencies:\n  - pip:\n    - pyyaml==5.3.1\n",
             "requirements.txt": "pyyaml==5.3.1\npyyaml>=5\n"}
    pyyaml = [d for d in parse_environment(files).dependencies if d.name == "pyyaml"]
    assert len(pyyaml) == 2  # same pin merged; a different specifier kept apart
    pinned = next(d for d in pyyaml if d.version)
    assert len(pinned.also_in) == 1


def test_invalid_yaml_is_an_error_not_a_crash():
    parsed = parse_environment({"conda.yaml": "dependencies: [unclosed\n"})
    assert parsed.dependencies == [] and "invalid YAML" in parsed.errors[0].message


def test_yaml_tags_do_not_construct_objects_and_are_refused():
    parsed = parse_environment({"conda.yaml": "dependencies:\n  - !!python/object/apply:os.system ['true']\n"})
    assert parsed.dependencies == [] and "explicit YAML tag" in parsed.errors[0].message


def test_mlmodel_is_ignored_and_a_model_without_environment_files_is_an_error():
    parsed = parse_environment({"MLmodel": "flavors: {}\n"})
    assert parsed.dependencies == [] and "no environment files" in parsed.errors[0].message


def test_pep503_normalisation():
    assert normalise_name("Foo.Bar__baz-Qux") == "foo-bar-baz-qux"


def test_a_constraints_file_is_scanned_in_full_as_its_own_root_too():
    files = {"a-constraints.txt": "requests==2.19.0\nunused==1.0\n", "reqs.txt": "-c a-constraints.txt\nrequests\n"}
    found = {(d.name, d.version) for d in parse_environment(files).dependencies}
    assert found == {("requests", "2.19.0"), ("unused", "1.0")}


# --- bounds ------------------------------------------------------------------------------------
def test_more_dependencies_than_the_cap_is_an_error_and_reading_stops():
    from releases.scanning.envparse import MAX_DEPENDENCIES

    text = "".join(f"pkg{i}==1.0\n" for i in range(MAX_DEPENDENCIES * 50))
    parsed = parse_environment({"requirements.txt": text})
    assert len(parsed.dependencies) <= MAX_DEPENDENCIES + 1
    assert any(f"more than {MAX_DEPENDENCIES} dependencies" in e.message for e in parsed.errors)


def test_errors_are_capped_and_counted():
    from releases.scanning.envparse import MAX_ERRORS

    parsed = parse_environment({"requirements.txt": "not valid ===\n" * (MAX_ERRORS * 3)})
    assert len(parsed.errors) == MAX_ERRORS + 1
    assert parsed.errors[-1].message == f"and {MAX_ERRORS * 2} more error(s)"


def test_too_many_notes_block():
    from releases.scanning.envparse import MAX_NOTES

    keys = "".join(f"k{i}: 1\n" for i in range(MAX_NOTES + 5))
    parsed = parse_environment({"conda.yaml": keys + "dependencies: [flask]\n"})
    assert len(parsed.issues) == MAX_NOTES and f"more than {MAX_NOTES} parser notes" in parsed.errors[-1].message


def test_aliases_cannot_multiply_work_past_the_caps():
    items = ", ".join(f"p{i}==1" for i in range(400))
    aliases = ", ".join(["*p"] * 400)
    text = f"x: &p {{pip: [{items}]}}\ndependencies: [{aliases}]\n"
    parsed = parse_environment({"conda.yaml": text})
    assert parsed.errors  # 400 pip sections, and past the dependency cap: refused, quickly

"""When every version a specifier admits is affected (releases.scanning.version_sets): sound, edge by edge."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from releases.scanning import version_sets
from releases.scanning.matcher import compile_osv, specifier_all_affected, version_affected

BELOW_5_4 = [{"introduced": "0"}, {"fixed": "5.4"}]  # CVE-2020-14343 (PyYAML) as OSV writes it


def entry(ranges=(), versions=()):
    return compile_osv("X-1", "pkg", [list(r) for r in ranges], list(versions))


@pytest.mark.parametrize("spec, expected", [
    ("<5.4", True),
    ("==5.3.*", True),  # conda's pyyaml=5.3
    (">=5.1,<5.4", True),
    ("<=5.3.1", True),
    ("~=5.3.1", True),  # >=5.3.1, ==5.3.*
    ("~=5.3", False),  # admits 5.4 up to 6.dev0
    ("<=5.4", False),  # 5.4 is fixed
    ("==5.4.*", False),
    (">=5.1", False),  # unbounded above
    ("", False),  # any version
    ("<5.4.0.1", False),  # 5.4 itself
    ("!=5.3.*,<5.4", True),  # a hole in an affected range is still affected
    ("!=5.3.2,<=5.3.9", True),
    ("<5.4,!=5.2", True),
    ("<5.4.dev0", True),
    ("<5.4rc1", True),  # PEP 440's pre-releases of 5.4 are below 5.4, so affected
    (">5.3.99,<5.4", True),
    ("<1!1.0", False),  # every epoch-0 version, 5.4 and later among them
    ("==5.3+local", True),
    ("===5.3", True),
    ("===weird.x", False),  # not PEP 440: not known
    ("not a specifier", False),
])
def test_every_admitted_version_affected_below_a_fix(spec, expected):
    assert specifier_all_affected(spec, entry([BELOW_5_4])) is expected


@pytest.mark.parametrize("spec, expected", [
    (">=1.0,<1.5", True),
    (">=1.0,<=1.5", True),  # last_affected is inclusive
    (">=1.0,<1.6", False),
    (">=0.9,<1.5", False),  # 0.9 is before the range
    (">1.0,<1.5", True),
    (">=1.0.dev0,<1.5", False),  # 1.0.dev0 sorts before 1.0
    ("==1.2.*", True),
    ("==1.*", False),
])
def test_ranges_with_a_start_and_last_affected(spec, expected):
    assert specifier_all_affected(spec, entry([[{"introduced": "1.0"}, {"last_affected": "1.5"}]])) is expected


def test_two_ranges_that_touch_cover_a_specifier_across_them():
    touching = entry([[{"introduced": "1.0"}, {"fixed": "1.5"}], [{"introduced": "1.5"}, {"fixed": "2.0"}]])
    assert specifier_all_affected(">=1.0,<2.0", touching)
    gap = entry([[{"introduced": "1.0"}, {"fixed": "1.5"}], [{"introduced": "1.5.1"}, {"fixed": "2.0"}]])
    assert not specifier_all_affected(">=1.0,<2.0", gap)  # 1.5 itself is fixed
    assert specifier_all_affected(">=1.0,<2.0,!=1.5.*", gap)  # the hole takes out 1.5.* whole, 1.5 with it
    assert specifier_all_affected(">=1.0,<1.5", gap)


def test_a_range_with_no_fix_covers_everything_after_its_start():
    unfixed = entry([[{"introduced": "0"}]])
    assert specifier_all_affected("", unfixed) and specifier_all_affected(">=3", unfixed)
    assert not specifier_all_affected("", entry([[{"introduced": "1.0"}]]))  # 0.9 is not affected


def test_a_limit_bounds_the_range():
    limited = entry([[{"introduced": "1.0"}, {"limit": "1.2"}]])
    assert specifier_all_affected("==1.1.*", limited) and not specifier_all_affected(">=1.0", limited)


def test_introduced_zero_means_every_version_even_below_zero():
    """OSV: `introduced: 0` is the first version there is; 0.dev0 sorts below Version("0")."""
    e = entry([BELOW_5_4])
    assert version_affected(Version("0.dev0"), e) and version_affected(Version("0a1"), e)
    assert specifier_all_affected("<1", e)


def test_epochs():
    epoch_one = entry([[{"introduced": "1!1.0"}, {"fixed": "1!2.0"}]])
    assert specifier_all_affected("==1!1.5.*", epoch_one) and specifier_all_affected(">=1!1.0,<1!2.0", epoch_one)
    assert not specifier_all_affected("==1.5.*", epoch_one)  # epoch 0
    assert not specifier_all_affected(">=1!1.0", epoch_one)


def test_listed_versions_count_only_for_a_single_version():
    listed = entry(versions=["2.3", "2.4"])
    assert specifier_all_affected("===2.3", listed) and specifier_all_affected("==2.3", listed)
    assert not specifier_all_affected(">=2.3,<=2.4", listed)  # 2.3.1 is between them


@pytest.mark.parametrize("spec, known", [
    ("==5.3.*", True), ("<5.4", True), (">=5.1,<5.4", True), ("!=5.3", True), ("!=5.3.*", True),
    ("<5.4rc1", False), (">=5.1.post1", False), ("<5.4.dev0", False),  # conda orders these otherwise
    ("~=5.3", False), ("===5.3", False),  # not conda's
])
def test_conda_specs_are_known_only_with_plain_release_bounds(spec, known):
    assert (version_sets.admitted(spec, conda=True) is not None) is known
    assert specifier_all_affected(spec, entry([[{"introduced": "0"}]]), conda=True) is known


def test_not_equal_to_a_local_build_removes_nothing():
    assert version_sets.admitted("!=5.3+local") == [version_sets.EVERYTHING]
    assert not specifier_all_affected("!=5.3+local,<5.4", entry([[{"introduced": "0"}, {"fixed": "5.3"}]]))


def test_an_empty_specifier_set_admits_nothing():
    assert version_sets.admitted(">5,<4") == []


# --- Sound by construction: over random specifiers and ranges ----------------------------------------------

_VERSIONS = ["0", "0.dev0", "0.9", "1.0.dev0", "1.0a1", "1.0rc1", "1.0", "1.0.post1", "1.0.1", "1.1", "1.1.dev0",
             "1.1b2", "1.1.post0", "1.2", "1.2.0.1", "1.5", "1.5.post1", "2.0.dev1", "2.0", "2.0.1", "3", "1!0.5",
             "1!1.0"]
_BOUNDS = ["0.9", "1.0", "1.0rc1", "1.0.post1", "1.1", "1.2", "1.5", "2.0", "2", "1!1.0"]
_OPERATORS = ["<", "<=", ">", ">=", "==", "!="]
clause = st.one_of(
    st.tuples(st.sampled_from(_OPERATORS), st.sampled_from(_BOUNDS)).map("".join),
    st.tuples(st.sampled_from(["==", "!="]), st.sampled_from(["1", "1.0", "1.1", "2", "1!1"])).map(
        lambda t: f"{t[0]}{t[1]}.*"),
    st.sampled_from(["~=1.0", "~=1.1", "~=1.0.1", "~=1.0rc1"]),
)
events = st.lists(st.tuples(st.sampled_from(["introduced", "fixed", "last_affected", "limit"]),
                            st.sampled_from(["0", *_BOUNDS])), min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(clauses=st.lists(clause, max_size=3), ranges=st.lists(events, min_size=1, max_size=2))
def test_a_definite_answer_is_never_wrong(clauses, ranges):
    """Whenever every admitted version is said to be affected, each sample version the specifier admits
    (packaging, pre-releases included) is affected by the matcher's own reading of the ranges."""
    spec = ",".join(clauses)
    e = entry([[{kind: bound} for kind, bound in r] for r in ranges])
    admitted = version_sets.admitted(spec)
    assert admitted is not None
    for text in _VERSIONS:
        version = Version(text)
        if SpecifierSet(spec).contains(version, prereleases=True):
            assert any(version_sets.covers(i, version_sets.Interval(version, True, version, True)) for i in admitted)
            if specifier_all_affected(spec, e):
                assert version_affected(version, e), (spec, ranges, text)

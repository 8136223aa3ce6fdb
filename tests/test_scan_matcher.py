"""OSV range semantics and PEP 440 ordering in the matcher (no database)."""
import pytest
from packaging.version import Version

from releases.scanning.matcher import compile_osv, parse_version, specifier_may_be_affected, version_affected


def entry(events=None, versions=()):
    return compile_osv("X-1", "pkg", [events] if events else [], list(versions))


def affected(entry_, version: str) -> bool:
    return version_affected(Version(version), entry_)


def test_introduced_zero_and_fixed():
    e = entry([{"introduced": "0"}, {"fixed": "5.4"}])
    assert affected(e, "0.1") and affected(e, "5.3.1")
    assert not affected(e, "5.4") and not affected(e, "6.0")


def test_events_are_sorted_before_walking():
    # Real data lists events out of order; walking them unsorted would get this wrong.
    e = entry([{"fixed": "2.0"}, {"introduced": "2.5"}, {"introduced": "1.5"}, {"fixed": "3.0"}])
    assert [affected(e, v) for v in ["1.0", "1.5", "1.9", "2.0", "2.4", "2.5", "2.9", "3.0"]] == [
        False, True, True, False, False, True, True, False]


def test_last_affected_is_inclusive():
    e = entry([{"introduced": "1.0"}, {"last_affected": "1.4"}])
    assert affected(e, "1.4") and affected(e, "1.0")
    assert not affected(e, "1.4.1") and not affected(e, "0.9")


def test_limit_bounds_the_range():
    e = entry([{"introduced": "0"}, {"limit": "2.0"}])
    assert affected(e, "1.9") and not affected(e, "2.0") and not affected(e, "3.0")


def test_introduced_without_fix_affects_everything_after():
    e = entry([{"introduced": "1.2"}])
    assert affected(e, "99.0") and not affected(e, "1.1")


def test_explicit_versions_list_counts_even_outside_ranges():
    e = entry([{"introduced": "2.0"}, {"fixed": "2.1"}], versions=["1.0.0", "0.9b1"])
    assert affected(e, "1.0.0") and affected(e, "1.0")  # PEP 440: 1.0 == 1.0.0
    assert affected(e, "0.9b1") and not affected(e, "0.9")


def test_explicit_versions_alone():
    e = entry(versions=["3.1", "3.2"])
    assert affected(e, "3.2") and not affected(e, "3.3")


@pytest.mark.parametrize("version,expected", [
    ("5.4rc1", True),  # pre-release of the fix is still affected
    ("5.4.dev0", True),  # dev release sorts before the pre-release
    ("5.3.post1", True),
    ("5.4.post1", False),
    ("1!1.0", False),  # an epoch sorts after every epoch-0 version
    ("0!5.3", True),
    ("5.3.1+local.7", True),
    ("5.4+cu118", False),  # a local build of the fixed release
])
def test_pep440_ordering(version, expected):
    e = entry([{"introduced": "0"}, {"fixed": "5.4"}])
    assert affected(e, version) is expected


def test_local_version_matches_listed_public_version():
    e = entry(versions=["2.1.0"])
    assert affected(e, "2.1.0+cu118")


def test_epoch_in_events():
    e = entry([{"introduced": "1!0"}, {"fixed": "1!2.0"}])
    assert affected(e, "1!1.5") and not affected(e, "9.9")


def test_non_pep440_versions_are_tolerated():
    assert parse_version("not-a-version!") is None
    assert parse_version("v1.2.3") == Version("1.2.3")
    e = compile_osv("X-2", "pkg", [[{"introduced": "0"}, {"fixed": "garbage!!"}, {"fixed": "2.0"}]],
                    ["weird_1", "1.5"])
    assert affected(e, "1.9") and not affected(e, "2.0")
    assert "|weird_1|" in e.listed


@pytest.mark.parametrize("spec,expected", [
    ("", True),
    (">=1.6", True),
    (">1.6", True),  # needs a point strictly between 1.6 and 1.7
    ("<1.5", False),
    (">=1.7", False),
    ("<1.6", True),
    (">=1.0,<1.5", False),
    ("!=1.5,<1.5.1", True),
    ("~=1.6", True),
    ("==1.6.*", True),
    ("==1.8.*", False),
    ("<=1.5", True),
    (">1.7,<1.8", False),
])
def test_unpinned_specifier_overlap(spec, expected):
    e = entry([{"introduced": "1.5"}, {"fixed": "1.7"}])
    assert specifier_may_be_affected(spec, e) is expected


def test_unpinned_specifier_against_listed_versions_only():
    e = entry(versions=["2.3"])
    assert specifier_may_be_affected(">=2", e) and not specifier_may_be_affected("<2", e)


@pytest.mark.parametrize("bound,inside", [
    ("0.4.6.dev1", "0.4.6.dev2"), ("1.0rc1", "1.0rc1.post0"), ("1.0.post1", "1.0.post2"), ("1!2.0", "1!2.0.0.0.0.1"),
])
def test_exclusive_bounds_of_every_version_shape(bound, inside):
    """`>bound` must still find a range that starts just above it (real data has dev/pre/post bounds)."""
    from releases.scanning.matcher import _just_above

    assert _just_above(Version(bound)) == Version(inside)
    e = entry([{"introduced": inside}, {"fixed": "99"}])
    assert specifier_may_be_affected(f">{bound},<{inside}.1" if "!" not in bound else f">{bound}", e)

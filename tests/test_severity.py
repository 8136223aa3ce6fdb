"""Severity: CVSS scores with the `cvss` package, GHSA labels, and the highest of linked records."""
import pytest

from releases.scanning.osv import parse_record
from releases.scanning.severity import Level, cvss_base_score, highest, level_from_label, level_from_score
from tests.osv_records import CRITICAL_V3, HIGH_V3, LOW_V3, MEDIUM_V3, record


@pytest.mark.parametrize("vector,score", [
    (CRITICAL_V3, 9.8), (HIGH_V3, 7.5), (MEDIUM_V3, 5.3), (LOW_V3, 1.8),
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3),
    ("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5),  # CVSS v2
    ("CVSS:3.1/garbage", None),
])
def test_cvss_base_scores(vector, score):
    assert cvss_base_score(vector) == score


@pytest.mark.parametrize("score,level", [(9.8, "CRITICAL"), (9.0, "CRITICAL"), (8.9, "HIGH"), (7.0, "HIGH"),
                                         (4.0, "MEDIUM"), (3.9, "LOW"), (0.0, "LOW"), (None, "UNKNOWN")])
def test_levels_from_scores(score, level):
    assert level_from_score(score) == Level(level)


def test_ghsa_labels_and_highest():
    assert level_from_label("MODERATE") == Level.MEDIUM and level_from_label("nonsense") == Level.UNKNOWN
    assert highest([Level.UNKNOWN, Level.LOW, Level.HIGH]) == Level.HIGH
    assert highest([Level.UNKNOWN]) == Level.UNKNOWN


def test_record_takes_the_higher_of_vector_and_ghsa_label():
    advisory = parse_record(record("GHSA-x", "p", [{"introduced": "0"}], vector=MEDIUM_V3, ghsa_severity="HIGH"))
    assert advisory.level == Level.HIGH and advisory.cvss_score == 5.3
    label_only = parse_record(record("GHSA-y", "p", [{"introduced": "0"}], ghsa_severity="CRITICAL"))
    assert label_only.level == Level.CRITICAL and label_only.cvss_score is None


def test_several_vectors_take_the_highest_score():
    data = record("X", "p", [{"introduced": "0"}])
    data["severity"] = [{"type": "CVSS_V3", "score": MEDIUM_V3},
                        {"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}]
    advisory = parse_record(data)
    assert advisory.cvss_score == 9.3 and advisory.level == Level.CRITICAL


def test_non_pypi_and_git_ranges_are_ignored():
    data = record("X", "p", [{"introduced": "0"}])
    data["affected"].append({"package": {"ecosystem": "npm", "name": "left-pad"}, "versions": ["1.0"]})
    data["affected"][0]["ranges"].append({"type": "GIT", "repo": "https://x", "events": [{"introduced": "abc"}]})
    advisory = parse_record(data)
    assert [a.name for a in advisory.affected] == ["p"] and len(advisory.affected[0].ranges) == 1

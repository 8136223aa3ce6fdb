"""Severity levels and how they are derived from OSV records."""
from enum import Enum


class Level(str, Enum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    # No record gave a severity. Never treated as harmless (see the decision rules).
    UNKNOWN = "UNKNOWN"


# Highest first; UNKNOWN ranks lowest for "which is higher" but decisions treat it apart.
RANK = {Level.CRITICAL: 4, Level.HIGH: 3, Level.MEDIUM: 2, Level.LOW: 1, Level.UNKNOWN: 0}
ORDER = [Level.CRITICAL, Level.HIGH, Level.MEDIUM, Level.LOW, Level.UNKNOWN]
KNOWN = ORDER[:-1]  # what a policy can name: the level it blocks at, what UNKNOWN counts as

# The one vocabulary, as Django field choices (this module stays free of Django for scan_env).
CHOICES = [(level.value, level.value) for level in ORDER]
KNOWN_CHOICES = [(level.value, level.value) for level in KNOWN]
BLOCK_AT_CHOICES = [(Level.CRITICAL.value, "CRITICAL only"), (Level.HIGH.value, "HIGH and above"),
                    (Level.MEDIUM.value, "MEDIUM and above"), (Level.LOW.value, "every severity")]

# GHSA's database_specific.severity uses MODERATE for MEDIUM.
_GHSA_LEVELS = {"CRITICAL": Level.CRITICAL, "HIGH": Level.HIGH, "MODERATE": Level.MEDIUM,
                "MEDIUM": Level.MEDIUM, "LOW": Level.LOW}


def level_from_score(score: float | None) -> Level:
    """CVSS v3/v4 qualitative rating scale (0.0 'None' counts as LOW: it was still reported)."""
    if score is None:
        return Level.UNKNOWN
    if score >= 9.0:
        return Level.CRITICAL
    if score >= 7.0:
        return Level.HIGH
    if score >= 4.0:
        return Level.MEDIUM
    return Level.LOW


def level_from_label(label) -> Level:
    return _GHSA_LEVELS.get(str(label or "").strip().upper(), Level.UNKNOWN)


def cvss_base_score(vector: str) -> float | None:
    """Base score of a CVSS v2/v3/v4 vector, or None if the vector does not parse."""
    import cvss  # noqa: PLC0415  (only needed while syncing)

    try:
        if vector.startswith("CVSS:4"):
            return float(cvss.CVSS4(vector).base_score)
        if vector.startswith("CVSS:3"):
            return float(cvss.CVSS3(vector).scores()[0])
        return float(cvss.CVSS2(vector).scores()[0])
    except Exception:  # the cvss package raises its own error types per version
        return None


def highest(levels) -> Level:
    levels = list(levels)
    known = [lv for lv in levels if lv != Level.UNKNOWN]
    if not known:
        return Level.UNKNOWN
    return max(known, key=RANK.__getitem__)

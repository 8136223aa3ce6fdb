"""Policy as code: run an environment's Rego policy in a child process and check what it returns."""
import json
import subprocess
import sys
from pathlib import Path

from releases.scanning.rego_runner import RESULT_MARKER

ROOT = Path(__file__).resolve().parents[2]
MAX_REASONS = 50


class RegoFailure(Exception):
    """The policy could not be evaluated (crash, timeout, invalid output): an operational failure."""


class RegoSyntaxError(RegoFailure):
    pass


def _run(policy: str, document: dict, timeout: float) -> dict:
    try:
        proc = subprocess.run([sys.executable, "-m", "releases.scanning.rego_runner"], cwd=ROOT,
                              input=json.dumps({"policy": policy, "input": document}), capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RegoFailure(f"the Rego policy did not finish within {timeout:g} s") from None
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if proc.returncode != 0 or not lines:
        raise RegoFailure(f"the Rego engine stopped without a result (exit {proc.returncode})")
    try:
        result = json.loads(lines[-1][len(RESULT_MARKER):])
    except ValueError:
        raise RegoFailure("the Rego engine printed an unreadable result") from None
    if not result.get("ok"):
        raise RegoSyntaxError(f"Rego policy error: {result.get('error', 'unknown error')}")
    return result


def evaluate(policy: str, document: dict, timeout: float = 10) -> tuple[bool, list[str]]:
    """(allow, reasons). `allow` must be a boolean if defined; `deny` a set of strings."""
    result = _run(policy, document, timeout)
    allow, deny = result.get("allow"), result.get("deny")
    if allow is None:
        allow = False  # undefined allow denies: fail closed
    if not isinstance(allow, bool):
        raise RegoFailure(f"the Rego policy's `allow` must be true or false, not {allow!r:.50}")
    if not isinstance(deny, list) or not all(isinstance(reason, str) for reason in deny):
        raise RegoFailure("the Rego policy's `deny` must be a set of strings")
    return allow and not deny, [reason[:300] for reason in deny[:MAX_REASONS]]


def validate(policy: str) -> str | None:
    """A clear message if the policy does not compile, else None (used when a policy is saved)."""
    try:
        _run(policy, {}, timeout=10)
    except RegoSyntaxError as exc:
        return str(exc)
    except RegoFailure as exc:
        return f"Rego policy could not be checked: {exc}"
    return None

"""What an environment's `resolve_dependencies` knob makes of a release's lock (pure; policy.evaluate calls it).

- off: the lock plays no part in the decision (its findings, if there is a lock, still count);
- warn: a model that cannot be resolved passes with a warning (its declared requirements were scanned);
- require: a model that cannot be resolved is blocked with the resolver's message, and so is a release
  without a lock at all (resolution was off when it was fetched, or no index was configured).

`missing` is that rule alone; the scan's decision applies it here, and the build, the promotion and the
completion apply it again under the environment's policy at that moment (releases.locking.shipping).
"""
LOCK_WHERE = "requirements.lock.txt"
HEADLINE_CHARS = 300


def headline(message: str) -> str:
    """uv's reason in one line: its `cause:` lines (the `error:` line only says that it failed)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    causes = [line.removeprefix("cause:").strip() for line in lines if line.startswith("cause:")]
    text = (" ".join(causes) or " ".join(line.removeprefix("error:").strip() for line in lines[:2])).rstrip(".")
    return text[:HEADLINE_CHARS] + ("…" if len(text) > HEADLINE_CHARS else "")


def missing(knob: str, outcome: str | None) -> bool:
    """The rule: an environment that requires a lock takes only a release whose lock was made (resolved)."""
    return knob == "require" and outcome != "resolved"


def verdict(lock: dict | None, knob: str) -> tuple[str, dict] | None:
    """("block" | "warn", entry) for the decision, or None. `lock` is DependencyLock.summary(); None: no lock
    information at all (a scan of files outside a release), which no knob judges."""
    if lock is None or knob == "off" or lock["outcome"] == "resolved":
        return None
    if lock["outcome"] == "unresolvable":
        reason = f"dependencies cannot be resolved into a lock: {headline(lock['message'])}"
    elif missing(knob, lock["outcome"]):
        reason = f"this environment requires a dependency lock and the release has none ({lock['message']})"
    else:
        return None  # warn, and nothing was resolved: the report says why, the decision is today's
    entry = {"package": "", "where": LOCK_WHERE, "lock": lock["outcome"], "reason": reason,
             "resolver_message": lock["message"]}
    return ("block" if missing(knob, lock["outcome"]) else "warn"), entry

"""`manage.py scan_env FILE [FILE ...] [--json]`: pre-flight scan for scripts and CI.

manage.py hands this command over before Django is set up, so it starts in
a fraction of a second: it reads the advisory tables with plain SQL over its
own read-only connection to DATABASE_URL (SQLite or PostgreSQL).

Exit codes: 0 clean; 1 findings that fail the policy; 2 usage or input error.
"""
import argparse
import contextlib
import json
import sys
from datetime import UTC
from pathlib import Path

EXIT_CLEAN, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MAX_FILE_BYTES = 1024 * 1024


class UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="manage.py scan_env",
        description="Scan conda.yaml / requirements.txt / python_env.yaml against the advisory database.",
        epilog="Exit codes: 0 clean, 1 findings that fail the policy, 2 usage or input error.")
    parser.add_argument("files", nargs="+", help="environment files")
    parser.add_argument("--json", action="store_true", help="print {findings, summary} as JSON")
    parser.add_argument("--environment", metavar="NAME",
                        help="decide under this environment's current policy and active waivers "
                             "(default: fail on definite CRITICAL or UNKNOWN findings)")
    parser.add_argument("--model-name", default="", help="the model name, for model-scoped waivers")
    return parser


def read_files(paths: list[str]) -> dict[str, str]:
    contents: dict[str, str] = {}
    for raw in paths:
        path = Path(raw)
        try:
            if not path.is_file():
                raise UsageError(f"{raw}: not a file")
            if path.stat().st_size > MAX_FILE_BYTES:
                raise UsageError(f"{raw}: larger than {MAX_FILE_BYTES} bytes")
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{raw}: {exc}") from None
        # Includes (-r requirements.txt) resolve by base name, so keep base names where unique.
        contents[path.name if path.name not in contents else raw] = text
    return contents


def connect_store(database_url: str):
    """A read-only SqlAdvisoryStore over DATABASE_URL, without Django."""
    from urllib.parse import unquote, urlsplit

    from releases.scanning.sqlstore import SqlAdvisoryStore

    url = urlsplit(database_url)
    if url.scheme == "sqlite":
        import sqlite3
        from urllib.parse import quote

        path = unquote(url.path[1:])  # as dj-database-url reads it: sqlite:////abs/path.sqlite3
        if not path or not Path(path).exists():
            raise UsageError(f"database {path!r} does not exist: run migrate and sync_advisories first")
        lite = sqlite3.connect(f"file:{quote(str(Path(path).resolve()))}?mode=ro", uri=True)
        return SqlAdvisoryStore(lambda: contextlib.closing(lite.cursor()), placeholder="?")
    if url.scheme in ("postgres", "postgresql", "pgsql"):
        import psycopg

        try:
            conn = psycopg.connect(
                host=url.hostname or None, port=url.port or None, user=unquote(url.username or "") or None,
                password=unquote(url.password or "") or None, dbname=unquote(url.path.lstrip("/")),
                autocommit=True, connect_timeout=10,
            )
        except psycopg.Error as exc:
            raise UsageError(f"cannot connect to the database: {str(exc).strip().splitlines()[0]}") from None
        conn.read_only = True
        return SqlAdvisoryStore(conn.cursor, placeholder="%s")
    raise UsageError(f"scan_env supports SQLite and PostgreSQL databases, not {url.scheme!r}")


def result_json(result, decision) -> str:
    return json.dumps({
        "findings": [f.as_dict() for f in result.findings],
        "summary": {
            "passed": decision.passed, "message": decision.summary,
            "counts": result.counts(definite=True), "possible_counts": result.counts(definite=False),
            "dependencies": len(result.dependencies), "advisory_sync": result.snapshot_id,
            "advisory_snapshot_at": result.snapshot_at.isoformat() if result.snapshot_at else None,
            "scanner": f"{result.scanner} {result.scanner_version}", "duration_ms": round(result.duration_ms, 2),
            "issues": result.issues, "decision": decision.as_dict(),
        },
    }, indent=2)


def result_table(result, decision) -> str:
    rows = [("SEVERITY", "PACKAGE", "VERSION", "ADVISORY", "FIXED IN", "MATCH", "WHERE")]
    for f in result.findings:
        rows.append((f.severity.value + (f" {f.score:.1f}" if f.score is not None else ""), f.package,
                     f.version or f.specifier or "(any)", f.advisory_id, ", ".join(f.fixed_versions[:3]) or "-",
                     "definite" if f.definite else "possible (unpinned)", f"{f.source_file}:{f.line}"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in rows]
    if len(rows) == 1:
        lines = ["No known vulnerabilities found."]
    lines += [f"note: {i['file']}:{i['line']}: {i['message']}" for i in result.issues]
    lines.append(f"{len(result.dependencies)} dependencies scanned against advisory sync #{result.snapshot_id}.")
    lines.append(decision.summary)
    return "\n".join(lines)


def main(argv: list[str], store=None, stdout=None, stderr=None, database_url: str = "") -> int:
    """Scan over `store`, or over a read-only connection to `database_url` (manage.py passes the
    gateway's own, so this library never reaches up into the project)."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    args = _parser().parse_args(argv)  # exits 2 on usage errors
    from datetime import datetime

    from releases.scanning.decision import DEFAULT_RULES, decide
    from releases.scanning.envparse import parse_environment
    from releases.scanning.rego import RegoFailure
    from releases.scanning.scanner import EmptyAdvisoryDatabase, scan
    from releases.scanning.sqlpolicy import UnknownEnvironment, load_policy

    now = datetime.now(UTC)
    try:
        parsed = parse_environment(read_files(args.files))
        if store is None:
            store = connect_store(database_url)
        result = scan(parsed, store)
        rules = DEFAULT_RULES
        waivers: list = []
        if args.environment:
            rules, waivers = load_policy(getattr(store, "sql", store), args.environment, now)
        decision = decide(result, rules, waivers, model_name=args.model_name, now=now)
    except (UsageError, EmptyAdvisoryDatabase, UnknownEnvironment, RegoFailure) as exc:
        stderr.write(f"scan_env: {exc}\n")
        return EXIT_USAGE
    except Exception as exc:  # a database error, for example: an input problem for the caller
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        stderr.write(f"scan_env: {type(exc).__name__}: {first_line}\n")
        return EXIT_USAGE
    stdout.write((result_json(result, decision) if args.json else result_table(result, decision)) + "\n")
    return EXIT_CLEAN if decision.passed else EXIT_FAILED

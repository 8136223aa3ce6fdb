# Sourced by bin/demo and bin/test: install the portal's pinned npm packages (npm ci, again only when
# package-lock.json changes) and build it with Vite (again only when its sources change).
ensure_frontend() {
    local root="$1"
    local dir="$root/frontend"
    command -v npm >/dev/null || { echo "need: Node.js 20 and npm (for frontend/)" >&2; return 1; }
    local lock_stamp="$dir/node_modules/.package-lock.sha256"
    local want_lock
    want_lock="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    if [ "$(cat "$lock_stamp" 2>/dev/null)" != "$want_lock" ]; then
        echo "==> npm ci (frontend/, pinned by package-lock.json)"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
        echo "$want_lock" > "$lock_stamp"
    fi
    local build_stamp="$dir/dist/.sources.sha256"
    local want_build
    want_build="$(cd "$dir" && find src vite.config.js package-lock.json -type f ! -name '*.test.*' -print0 \
        | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
    if [ "$(cat "$build_stamp" 2>/dev/null)" != "$want_build" ] || [ ! -f "$dir/dist/.vite/manifest.json" ]; then
        echo "==> vite build (frontend/ -> frontend/dist)"
        (cd "$dir" && npx --no-install vite build --logLevel warn)
        echo "$want_build" > "$build_stamp"
    fi
}


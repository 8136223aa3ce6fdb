# Sourced by bin/demo and bin/test: Debian packages the local image builds need
# (daemonless buildah, docker-registry as the OCI registry it pushes to, mmdebstrap for the
# serving base image, iproute2's `ip` for the smoke test's own network), and chromium.
ensure_system_packages() {
    local missing=()
    command -v buildah >/dev/null || missing+=(buildah)
    command -v docker-registry >/dev/null || missing+=(docker-registry)
    command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
    command -v ip >/dev/null || missing+=(iproute2)
    [ ${#missing[@]} -eq 0 ] && return 0
    apt_install "${missing[@]}"
}

# Debian's Chromium for the browser tests (Playwright's own browser download does not work here).
ensure_chromium() {
    command -v chromium >/dev/null || apt_install chromium
}

apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "need: apt-get install $* (as root)" >&2
        return 1
    fi
    echo "==> installing $* (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "$@" >/dev/null
}

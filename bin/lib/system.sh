# Sourced by bin/demo and bin/test: Debian packages the local image builds need
# (daemonless buildah, and docker-registry as the OCI registry it pushes to).
ensure_system_packages() {
    local missing=()
    command -v buildah >/dev/null || missing+=(buildah)
    command -v docker-registry >/dev/null || missing+=(docker-registry)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "need: apt-get install ${missing[*]} (as root)" >&2
        return 1
    fi
    echo "==> installing ${missing[*]} (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${missing[@]}" >/dev/null
}

#!/usr/bin/env bash
# Make sure the Debian packages behind the given tools are installed.
#
#   scripts/ensure-system-packages.sh postgresql [prometheus promtool chromium wrk ...]
#
# Installs what is missing with apt-get when run as root; as any other user it only names the
# missing packages and exits 1. Exits 0 without touching apt when everything is already there.
set -euo pipefail

me=${0##*/}

# tool -> Debian package
package_for() {
    case "$1" in
        postgresql) echo postgresql ;;
        prometheus | promtool) echo prometheus ;;
        chromium) echo chromium ;;
        wrk) echo wrk ;;
        *) return 1 ;;
    esac
}

# tool -> is it installed?
present() {
    case "$1" in
        postgresql) compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null ;;
        chromium) [[ -x /usr/bin/chromium ]] ;;
        prometheus | promtool | wrk) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

if [[ $# -eq 0 ]]; then
    echo "usage: $me TOOL... (postgresql prometheus promtool chromium wrk)" >&2
    exit 2
fi

missing_tools=()
packages=()
for tool in "$@"; do
    if ! pkg=$(package_for "$tool"); then
        echo "$me: unknown tool '$tool' (known: postgresql prometheus promtool chromium wrk)" >&2
        exit 2
    fi
    if ! present "$tool"; then
        missing_tools+=("$tool")
        [[ " ${packages[*]-} " == *" $pkg "* ]] || packages+=("$pkg")
    fi
done

if [[ ${#packages[@]} -eq 0 ]]; then
    echo "$me: already installed: $*"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing system package(s): ${packages[*]} — apt-get is not available;" \
        "install them with this system's package manager" >&2
    exit 1
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "missing system package(s): ${packages[*]} — install them with:" \
        "sudo apt-get install -y ${packages[*]}" >&2
    exit 1
fi

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

for tool in "${missing_tools[@]}"; do
    if ! present "$tool"; then
        echo "$me: installed ${packages[*]} but '$tool' is still not found" >&2
        exit 1
    fi
done
echo "$me: installed ${packages[*]}"

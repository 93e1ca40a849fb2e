# Shared by ci/demo and ci/test: install missing Debian packages, configure, build incrementally.
# shellcheck shell=bash
set -euo pipefail

WIZSIM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$WIZSIM_ROOT"

# Everything the default build needs on a fresh Debian 12 machine.
WIZSIM_PACKAGES=(build-essential cmake ninja-build pkgconf ccache git libfmt-dev libgtest-dev libgmock-dev
                 libbenchmark-dev)

wizsim_log() { printf '==> %s\n' "$*" >&2; }

# Installs the packages that are not installed yet (non-interactive; apt-get update only when needed).
wizsim_install_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  wizsim_log "installing Debian packages: ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Configures (first time) and builds the given targets (all when none) in build/.
wizsim_build() {
  local preset=ci
  if [ ! -f build/build.ninja ]; then
    wizsim_log "configuring (cmake --preset $preset)"
    cmake --preset "$preset" >/dev/null
  fi
  wizsim_log "building ${*:-all}"
  if [ $# -eq 0 ]; then
    cmake --build build -j "$(nproc)"
  else
    cmake --build build -j "$(nproc)" --target "$@"
  fi
}

# Shared by ci/demo and ci/test: install missing Debian packages, configure, build incrementally.
# shellcheck shell=bash
set -euo pipefail

WIZSIM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$WIZSIM_ROOT"

# Everything the default build needs on a fresh Debian 12 machine.
WIZSIM_PACKAGES=(build-essential cmake ninja-build pkgconf ccache git libfmt-dev libgtest-dev libgmock-dev
                 libbenchmark-dev libyaml-cpp-dev)
# What ci/test needs on top:
# tshark: the wire-validity test checks captured frames with Wireshark's dissectors (wireshark-common's
# debconf question "install-setuid" defaults to false under DEBIAN_FRONTEND=noninteractive).
# clang + libclang-rt-14-dev: the libFuzzer/ASan/UBSan runtime for the fuzz build (build-fuzz/).
# The real-network bridge tests (harness/tests/bridge/, each in its own throw-away namespaces): the real
# peers dnsmasq-base (DHCP + DNS; not `dnsmasq`, which adds a host-wide service), busybox (udhcpc), curl,
# iputils-ping, bind9-dnsutils (dig), python3 (http.server); iproute2 (ip, ss) and procps (sysctl) to set
# up the tap. libxml2-utils: xmllint validates the runner's JUnit output against its schema.
WIZSIM_TEST_PACKAGES=(tshark clang libclang-rt-14-dev dnsmasq-base busybox curl iproute2 iputils-ping
                      bind9-dnsutils procps python3 libxml2-utils)

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

# Configures (first time) build-fuzz/ with clang, builds the libFuzzer target and runs it for a bounded
# number of inputs from a scratch copy of the seed corpus. Fails on any crash, leak, sanitizer report or
# oracle failure; the reproducer lands in build-fuzz/artifacts/. WIZSIM_FUZZ_RUNS overrides the run count.
wizsim_fuzz() {
  local dir=build-fuzz
  if [ ! -f "$dir/build.ninja" ]; then
    wizsim_log "configuring $dir (clang, WIZSIM_FUZZ=ON)"
    CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DWIZSIM_FUZZ=ON -DWIZSIM_BUILD_TESTS=OFF -DWIZSIM_BUILD_BENCH=OFF >/dev/null
  fi
  wizsim_log "building the fuzzers"
  cmake --build "$dir" -j "$(nproc)" --target wizsim-frame-fuzz wizsim-peer-fuzz wiznet5k-driver-fuzz
  local runs="${WIZSIM_FUZZ_RUNS:-20000}"
  # The driver target runs the DHCP client's minute-long retransmission schedule through the chip model
  # on most inputs (~150 inputs/s against ~1000 for the others), so it gets fewer.
  local driver_runs="${WIZSIM_DRIVER_FUZZ_RUNS:-3000}"
  # target, binary, seed corpus, what it covers
  wizsim_fuzz_one "$dir" "$runs" wizsim-frame-fuzz sim/fuzz "frame ingress into the chip" || return 1
  wizsim_fuzz_one "$dir" "$runs" wizsim-peer-fuzz harness/fuzz "traffic at the peers and their services" ||
    return 1
  wizsim_fuzz_one "$dir" "$driver_runs" wiznet5k-driver-fuzz driver/fuzz \
    "DHCP replies, DNS answers and HTTP requests at the driver" || return 1
}

# wizsim_fuzz_one DIR RUNS TARGET SOURCE_DIR DESCRIPTION: runs one libFuzzer target from its seed corpus.
wizsim_fuzz_one() {
  local dir=$1 runs=$2 target=$3 src=$4 what=$5
  local work="$dir/fuzz-work/$target"
  rm -rf "$work" && mkdir -p "$work/corpus" "$dir/artifacts"
  wizsim_log "fuzzing $what ($runs runs)"
  if ! "$dir/$src/$target" -runs="$runs" -max_len=4096 -seed=1 -print_final_stats=1 -timeout=60 \
      -artifact_prefix="$dir/artifacts/$target-" "$work/corpus" "$src/corpus" >"$work/log" 2>&1; then
    grep -E -B2 -A40 'ERROR:|runtime error|_fuzz oracle|deadly signal' "$work/log" | head -n 80 >&2 ||
      tail -n 60 "$work/log" >&2
    wizsim_log "FUZZER FAILED: reproducer in $dir/artifacts/ (run it: $dir/$src/$target FILE)"
    return 1
  fi
  grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$work/log" >&2 || true
  rm -rf "$work"
}

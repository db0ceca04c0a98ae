#!/usr/bin/env bash
# make bench: performance, measured (not part of the tests).
#  1. The JSON layer's throughput on a generated >= 10 MB site list, beside jsmn parsing the same
#     bytes whole with JSMN_PARENT_LINKS.
#  2. `spo sites` for 100,000 sites against the emulator, beside the approach spo replaces (Python
#     with msal and requests, Debian's packages) and a curl loop: wall time, CPU time, peak RSS.
# Prints markdown tables (the README quotes them). BENCH_SITES changes the site count.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
SPO_DEPS_EXTRA="python3-msal python3-requests time curl" bash scripts/deps.sh >/dev/null
make -s cli >/dev/null
sites=${BENCH_SITES:-100000}
run=build/bench; rm -rf "$run"; mkdir -p "$run"

echo "## Machine"
echo
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d)"
echo
echo "## JSON layer"
echo
cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude tests/bench/bench_json.c tests/bench/bench_jsmn_whole.c \
   src/json_reader.c src/json_util.c -o "$run/bench_json"
"$run/bench_json" 10
echo

. tests/emulator/start.sh
emu_start "$run" --sites "$sites"
# Like the tools it is compared with, each run signs in (and nothing lands in ~/.config).
export SPO_TOKEN_CACHE=off
# msal validates the authority by fetching the tenant's OpenID configuration: the emulator serves it.

measure() { # name command... ; best of 3 by wall time: "wall cpu rss"
  local name=$1; shift
  local best=""
  for i in 1 2 3; do
    /usr/bin/time -f '%e %U %S %M' -o "$run/time" "$@" >"$run/out-$name" 2>"$run/err-$name" ||
      { echo "bench: $name failed:"; tail -3 "$run/err-$name"; exit 1; }
    read -r wall user sys rss <"$run/time"
    local cpu; cpu=$(echo "$user + $sys" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$wall < ${best%% *}" | bc -l)" = 1 ]; then best="$wall $cpu $rss"; fi
  done
  echo "$best" >"$run/res-$name"
}
command -v bc >/dev/null || SPO_DEPS_EXTRA=bc bash scripts/deps.sh >/dev/null
measure spo build/linux-host/spo sites
n=$(wc -l <"$run/out-spo"); [ "$n" = "$sites" ] || { echo "bench: spo printed $n sites, not $sites"; exit 1; }
measure python /usr/bin/python3 tests/bench/seed_sites.py
cmp -s "$run/out-spo" "$run/out-python" || echo "(note: Python's output differs from spo's)"
measure curl bash tests/bench/curl_sites.sh

read -r sw sc sr <"$run/res-spo"
echo "## \`spo sites\` for $sites sites against the emulator (best of 3)"
echo
echo "| client | wall s | CPU s | peak RSS KiB | wall × spo | CPU × spo | RSS × spo |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for name in spo python curl; do
  read -r w c r <"$run/res-$name"
  label=$name; [ $name = python ] && label="Python 3 + msal + requests"; [ $name = curl ] && label="curl loop (no JSON parsing)"
  printf '| %s | %.2f | %.2f | %d | %.1f | %.1f | %.1f |\n' "$label" "$w" "$c" "$r" \
    "$(echo "$w / $sw" | bc -l)" "$(echo "$c / $sc" | bc -l)" "$(echo "$r / $sr" | bc -l)"
done
echo
echo "The emulator (Python) serves every client and its own CPU time is not counted; wall times include"
echo "waiting for it, so they bound the clients' differences from below."

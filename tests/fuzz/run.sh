#!/usr/bin/env bash
# Runs the fuzz targets built by the Makefile's fuzz section (see there).
#   run.sh fuzz SECONDS MERGE NAME...   libFuzzer on each target for SECONDS; MERGE=1 merges the
#                                       inputs that add coverage into tests/fuzz/corpus/NAME
#   run.sh replay NAME...               every corpus file through each replay binary
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
BF=build/fuzz

# Longest input worth trying per target: past the limits the parsers enforce (SPO_HTTP_LINE_MAX,
# SPO_JSON_WINDOW, SPO_TOKEN_MAX, SPO_URL_MAX are 2-4 KiB), without slowing every run.
max_len() {
  case $1 in
    token_response|device) echo 10000 ;;  # device: a token and a refresh token of 4 KiB each
    drive) echo 16384 ;;  # several answers in one input
    token_cache) echo 12400 ;;
    url) echo 4096 ;;
    proxy) echo 10000 ;;  # past SPO_PROXY_ANSWER_MAX (8 KiB)
    retry_after) echo 128 ;;
    *) echo 8192 ;;
  esac
}
dict() {
  case $1 in
    http_response|chunked) echo "-dict=tests/fuzz/http.dict" ;;
    json|token_response|graph_error|device|drive|list_fields) echo "-dict=tests/fuzz/json.dict" ;;
  esac
}

mode=${1:-}; shift || true
case $mode in
fuzz)
  secs=$1 merge=$2; shift 2
  status=0
  for t in "$@"; do
    corpus=tests/fuzz/corpus/$t findings=$BF/findings/$t art=$BF/artifacts/$t log=$BF/logs/fuzz_$t.log
    mkdir -p "$corpus" "$findings" "$art" "$(dirname "$log")"
    # New inputs go to the first directory (scratch, under build/); the repo corpus is only read.
    "$BF/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 -max_len="$(max_len "$t")" \
      -timeout=20 -rss_limit_mb=2048 -artifact_prefix="$art/" $(dict "$t") \
      "$findings" "$corpus" >"$log" 2>&1
    rc=$?
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
    if [ $rc -ne 0 ]; then
      status=1
      echo "fuzz $t: CRASH after ${execs:-?} executions (see $log)"
      grep -E '^(==[0-9]+==ERROR|SUMMARY|.*fuzz property failed|.*runtime error)' "$log" | head -5 | sed 's/^/  /'
      ls -t "$art" | head -3 | sed "s|^|  artifact: $art/|"
      continue
    fi
    added=0
    if [ "$merge" = 1 ]; then
      # Edges only (-use_counters=0), not hit-count buckets: what a new input must add to be kept,
      # so the repo corpus grows by tens of files, not hundreds.
      before=$(find "$corpus" -type f | wc -l)
      "$BF/fuzz_$t" -merge=1 -use_counters=0 -max_len="$(max_len "$t")" -timeout=20 \
        -rss_limit_mb=2048 "$corpus" "$findings" >>"$log" 2>&1
      added=$(( $(find "$corpus" -type f | wc -l) - before ))
    fi
    echo "fuzz $t: ${execs:-?} executions in ${secs}s, ${cov:-cov ?}, corpus $(find "$corpus" -type f | wc -l) files (+$added merged)"
  done
  exit $status
  ;;
replay)
  files=0 fails=0
  mkdir -p "$BF/logs"
  for t in "$@"; do
    out=$("$BF/replay_$t" "tests/fuzz/corpus/$t" 2>"$BF/logs/replay_$t.log")
    rc=$?
    n=$(echo "$out" | sed -nE 's/.*: ([0-9]+) files, ([0-9]+) crashes.*/\1/p')
    c=$(echo "$out" | sed -nE 's/.*: ([0-9]+) files, ([0-9]+) crashes.*/\2/p')
    n=${n:-0} c=${c:-1}
    if [ $rc -ne 0 ] && [ "$c" = 0 ]; then c=1; fi
    printf 'fuzz-replay: %-15s %4d files, %d crashes\n' "$t" "$n" "$c"
    if [ "$c" != 0 ]; then
      grep -E 'CRASH on|fuzz property failed|ERROR: AddressSanitizer|runtime error' "$BF/logs/replay_$t.log" | head -6 | sed 's/^/  /'
    fi
    files=$((files + n - c)) fails=$((fails + c))
  done
  echo "fuzz-replay: $files passed, $fails failed"
  [ "$fails" = 0 ]
  ;;
*)
  echo "usage: run.sh fuzz SECONDS MERGE NAME... | run.sh replay NAME..." >&2
  exit 2
  ;;
esac

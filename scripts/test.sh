#!/usr/bin/env bash
# make test: every unit test (plain and under ASan/UBSan), then the end-to-end tests of the CLI
# against the emulator (plain, ASan/UBSan, valgrind), the long runs (tests/long, SPO_SKIP_LONG=1
# skips them), `make install` (tests/install), spo against nginx (tests/nginx, plain and ASan;
# SPO_SKIP_NGINX=1 skips it) and the emulator's self-tests.
# Ends with "N passed, N failed".
# A cross board (SPO_BOARD=rpi-armhf, set by `make BOARD=.. test`) runs its own binaries under
# SPO_RUN (qemu-user): the unit tests and the end-to-end tests, without ASan, valgrind or long runs.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export SPO_CONFORMANCE_DIR=${SPO_CONFORMANCE_DIR:-$top/../shared/conformance}
export SPO_FIXTURES=${SPO_FIXTURES:-$top/../shared/fixtures/ms}
board=${SPO_BOARD:-linux-host}
run=${SPO_RUN:-}
B=build/$board
BA=build/linux-host-asan
passed=0 failed=0
failures=()
log=build/test-logs; mkdir -p "$log"

if [ "$board" = linux-host ]; then
  make -s cli "$B/spo" "$BA/spo" unit unit-asan || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
else
  make -s BOARD="$board" cli unit || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
fi

run_cmocka() { # name binary
  local name=$1 bin=$2 out="$log/$1.log"
  $run "$bin" >"$out" 2>&1; local rc=$?
  local p f
  p=$(grep -Eo '^\[  PASSED  \] [0-9]+' "$out" | grep -Eo '[0-9]+$' | tail -1)
  f=$(grep -Eo '^\[  FAILED  \] [0-9]+' "$out" | grep -Eo '[0-9]+$' | tail -1)
  p=${p:-0}; f=${f:-0}
  if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi  # crashed or sanitizer report
  passed=$((passed + p)); failed=$((failed + f))
  grep -E '^(jsontestsuite|llhttp|pool|tls):' "$out" | sed "s/^/  /"
  if [ "$f" != 0 ]; then failures+=("$name (see $out)"); fi
  printf '%-40s %3d passed, %d failed\n' "$name" "$p" "$f"
}

for t in tests/unit/test_*.c; do
  n=$(basename "$t" .c)
  if [ "$board" != linux-host ]; then run_cmocka "$n[$board]" "$B/tests/$n"; continue; fi
  run_cmocka "$n" "$B/tests/$n"
  run_cmocka "$n[asan]" "$BA/tests/$n"
done

# One suite: run "$@" with its output in $log/NAME.log, read its "PREFIX: N passed, N failed" line
# (a non-zero exit with no failure counted is one failure), echo its FAIL lines (and ok lines when
# SHOW=ok), and add it up. suite NAME PREFIX LABEL COMMAND...
suite() {
  local name=$1 prefix=$2 label=$3; shift 3
  local out="$log/$name.log" rc line p f
  "$@" >"$out" 2>&1; rc=$?
  line=$(grep -E "^$prefix: [0-9]+ passed, [0-9]+ failed" "$out" | tail -1)
  p=$(echo "$line" | sed -E "s/^$prefix: ([0-9]+) passed.*/\1/"); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
  p=${p:-0}; f=${f:-0}; if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  grep -E "^(${SHOW:-FAIL}|FAIL)" "$out" | sed "s/^/  /"
  [ "$f" != 0 ] && failures+=("$label (see $out)")
  printf '%-40s %3d passed, %d failed\n' "$label" "$p" "$f"
}
e2e() { /usr/bin/python3 tests/e2e/run.py "$@"; }
if [ -f tests/e2e/run.py ] && [ "$board" != linux-host ]; then
  suite "e2e-$board" e2e "e2e $board" e2e --spo "$B/spo-qemu"  # a launcher: the runner gives spo a clean environment
elif [ -f tests/e2e/run.py ]; then
  suite e2e-plain e2e "e2e plain" e2e --spo "$B/spo"
  suite e2e-asan e2e "e2e asan" e2e --spo "$BA/spo"
  if [ "${SPO_SKIP_VALGRIND:-0}" != 1 ]; then suite e2e-valgrind e2e "e2e valgrind" e2e --spo "$B/spo" --valgrind; fi
fi

if [ -f tests/long/run.sh ] && [ "${SPO_SKIP_LONG:-0}" != 1 ] && [ "$board" = linux-host ]; then
  SHOW=ok suite long long "long runs" bash tests/long/run.sh
fi

# Certificate sign-in with a wrong device clock (a day behind, years ahead, 1970), library API.
if [ -f tests/long/cert_clock.sh ] && [ "$board" = linux-host ]; then
  SHOW=ok suite cert_clock clock "certificate sign-in, wrong clock" bash tests/long/cert_clock.sh
fi

# make install into two prefixes (bundled mbedTLS, MBEDTLS_DIR) and DESTDIR; a program built from
# spo.pc alone lists the emulator's sites, as does the installed spo.
if [ -f tests/install/run.sh ] && [ "$board" = linux-host ]; then
  SHOW=ok suite install install "make install, pkg-config" bash tests/install/run.sh
fi

if [ -f tests/nginx/run.sh ] && [ "${SPO_SKIP_NGINX:-0}" != 1 ] && [ "$board" = linux-host ]; then
  suite nginx nginx "nginx peer" bash tests/nginx/run.sh "$B/spo" "$BA/spo"
fi

# The emulator's own self-tests, so that a broken emulator is not mistaken for a broken spo.
# selftest_identity.py ends with "selftest: N passed, N failed"; selftest_drive.py prints
# "ok NAME (T s)" or "FAIL NAME" per check and ends with "ALL OK" or "FAILED N": counted here.
if [ -f tests/emulator/selftest_identity.py ] && [ "$board" = linux-host ]; then
  suite emulator-selftest selftest "emulator self-tests (identity)" /usr/bin/python3 tests/emulator/selftest_identity.py
fi
if [ -f tests/emulator/selftest_drive.py ] && [ "$board" = linux-host ]; then
  suite emulator-selftest-drive selftest-drive "emulator self-tests (drive)" bash -c \
    'out=$(/usr/bin/python3 tests/emulator/selftest_drive.py 2>&1); rc=$?; printf "%s\n" "$out"
     p=$(printf "%s\n" "$out" | grep -cE "^ok "); f=$(printf "%s\n" "$out" | grep -cE "^FAIL ")
     echo "selftest-drive: $p passed, $f failed"; exit $rc'
fi

if grep -q '^fuzz-replay:' Makefile && [ "$board" = linux-host ]; then
  SHOW=NONE suite fuzz-replay fuzz-replay "fuzz corpus replay" make -s fuzz-replay
fi

if [ ${#failures[@]} -gt 0 ]; then printf 'failed: %s\n' "${failures[@]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

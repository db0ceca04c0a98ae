#!/usr/bin/env bash
# make test: every unit test (plain and under ASan/UBSan), then the end-to-end tests of the CLI
# against the emulator (plain, ASan/UBSan, valgrind), the long runs (tests/long, SPO_SKIP_LONG=1
# skips them), spo against nginx (tests/nginx, plain and ASan; SPO_SKIP_NGINX=1 skips it) and the
# emulator's self-tests.
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

run_e2e() { # label args...
  local label=$1; shift
  local out="$log/e2e-$label.log"
  /usr/bin/python3 tests/e2e/run.py "$@" >"$out" 2>&1; local rc=$?
  local line p f
  line=$(grep -E '^e2e: [0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
  p=$(echo "$line" | sed -E 's/^e2e: ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
  p=${p:-0}; f=${f:-0}
  if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  grep -E '^FAIL' "$out" | sed "s/^/  /"
  if [ "$f" != 0 ]; then failures+=("e2e-$label (see $out)"); fi
  printf '%-40s %3d passed, %d failed\n' "e2e $label" "$p" "$f"
}
if [ -f tests/e2e/run.py ] && [ "$board" != linux-host ]; then
  run_e2e "$board" --spo "$B/spo-qemu"  # a launcher: the runner gives spo a clean environment
elif [ -f tests/e2e/run.py ]; then
  run_e2e plain --spo "$B/spo"
  run_e2e asan --spo "$BA/spo"
  if [ "${SPO_SKIP_VALGRIND:-0}" != 1 ]; then run_e2e valgrind --spo "$B/spo" --valgrind; fi
fi

if [ -f tests/long/run.sh ] && [ "${SPO_SKIP_LONG:-0}" != 1 ] && [ "$board" = linux-host ]; then
  out="$log/long.log"
  bash tests/long/run.sh >"$out" 2>&1; rc=$?
  line=$(grep -E '^long: [0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
  p=$(echo "$line" | sed -E 's/^long: ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
  p=${p:-0}; f=${f:-0}; if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  grep -E '^(ok|FAIL)' "$out" | sed "s/^/  /"
  [ "$f" != 0 ] && failures+=("long (see $out)")
  printf '%-40s %3d passed, %d failed\n' "long runs" "$p" "$f"
fi

# Certificate sign-in with a wrong device clock (a day behind, years ahead, 1970), library API.
if [ -f tests/long/cert_clock.sh ] && [ "$board" = linux-host ]; then
  out="$log/cert_clock.log"
  bash tests/long/cert_clock.sh >"$out" 2>&1; rc=$?
  line=$(grep -E '^clock: [0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
  p=$(echo "$line" | sed -E 's/^clock: ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
  p=${p:-0}; f=${f:-0}; if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  grep -E '^(ok|FAIL)' "$out" | sed "s/^/  /"
  [ "$f" != 0 ] && failures+=("cert_clock (see $out)")
  printf '%-40s %3d passed, %d failed\n' "certificate sign-in, wrong clock" "$p" "$f"
fi

if [ -f tests/nginx/run.sh ] && [ "${SPO_SKIP_NGINX:-0}" != 1 ] && [ "$board" = linux-host ]; then
  out="$log/nginx.log"
  bash tests/nginx/run.sh "$B/spo" "$BA/spo" >"$out" 2>&1; rc=$?
  line=$(grep -E '^nginx: [0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
  p=$(echo "$line" | sed -E 's/^nginx: ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
  p=${p:-0}; f=${f:-0}; if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  grep -E '^FAIL' "$out" | sed "s/^/  /"
  [ "$f" != 0 ] && failures+=("nginx (see $out)")
  printf '%-40s %3d passed, %d failed\n' "nginx peer" "$p" "$f"
fi

# The emulator's own self-tests, so that a broken emulator is not mistaken for a broken spo.
# selftest_identity.py ends with "selftest: N passed, N failed"; selftest_drive.py prints
# "ok NAME (T s)" or "FAIL NAME" per check and ends with "ALL OK" or "FAILED N": counted here.
if [ -f tests/emulator/selftest_identity.py ] && [ -f tests/emulator/selftest_drive.py ] &&
   [ "$board" = linux-host ]; then
  out="$log/emulator-selftest.log"
  /usr/bin/python3 tests/emulator/selftest_identity.py >"$out" 2>&1; rc1=$?
  line=$(grep -E '^selftest: [0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
  p=$(echo "$line" | sed -E 's/^selftest: ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
  p=${p:-0}; f=${f:-0}; if [ $rc1 -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
  out2="$log/emulator-selftest-drive.log"
  /usr/bin/python3 tests/emulator/selftest_drive.py >"$out2" 2>&1; rc2=$?
  p2=$(grep -cE '^ok ' "$out2"); f2=$(grep -cE '^FAIL ' "$out2")
  if [ $rc2 -ne 0 ] && [ "$f2" = 0 ]; then f2=1; fi
  p=$((p + p2)); f=$((f + f2))
  passed=$((passed + p)); failed=$((failed + f))
  grep -hE '^FAIL' "$out" "$out2" | sed "s/^/  /"
  [ "$f" != 0 ] && failures+=("emulator self-tests (see $out and $out2)")
  printf '%-40s %3d passed, %d failed\n' "emulator self-tests" "$p" "$f"
fi

if grep -q '^fuzz-replay:' Makefile && [ "$board" = linux-host ]; then
  out="$log/fuzz-replay.log"
  make -s fuzz-replay >"$out" 2>&1; rc=$?
  line=$(grep -E '^fuzz-replay: [0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
  p=$(echo "$line" | sed -E 's/^fuzz-replay: ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
  p=${p:-0}; f=${f:-0}; if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  [ "$f" != 0 ] && failures+=("fuzz-replay (see $out)")
  printf '%-40s %3d passed, %d failed\n' "fuzz corpus replay" "$p" "$f"
fi

if [ ${#failures[@]} -gt 0 ]; then printf 'failed: %s\n' "${failures[@]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

#!/usr/bin/env bash
# Certificate sign-in with a wrong device clock, through the library API (tests/long/cert_clock.c),
# against the emulator: the POSIX port's wall clock a day behind, 3 years ahead, and at 1970.
# Each must list the sites after exactly two requests to the identity platform: with the clock
# before the build date (1970; a day behind a build from today) the first is a GET of the tenant's
# OpenID metadata for the time (Date) and then one token request, otherwise an assertion refused
# with AADSTS700024 and then the corrected one. The emulator serves
# pki.sh's longlived chain (valid from 2 days ago for ~5 years): spo checks TLS certificates
# against the device clock, and the usual 365-day server certificate would rightly look expired
# 3 years ahead.
#   tests/long/cert_clock.sh      ends "clock: N passed, N failed"
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
run=build/cert_clock; rm -rf "$run"; mkdir -p "$run"
make -s lib >/dev/null || exit 1
cc -O1 -g -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -Iinclude -Iconfig -I.deps/mbedtls-3.6.6/include \
  -I.deps/include -DMBEDTLS_CONFIG_FILE='<mbedtls_config.h>' tests/long/cert_clock.c -o "$run/cert_clock" \
  build/linux-host/libspo.a .deps/mbedtls-build/host/lib/libmbedcrypto_all.a build/linux-host/libspo.a || exit 1
(
  set -e; cd "$run"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout app.key -out app.crt -days 30 -subj /CN=spo-clock
  cat app.crt app.key > app.pem
) >/dev/null 2>&1 || { echo "clock: openssl failed"; exit 1; }
. tests/emulator/start.sh
EMU_CHAIN=longlived-chain.pem EMU_KEY=longlived.key emu_start "$run" --sites 25 \
  --client-cert "$run/app.crt" || exit 1
unset AZURE_CLIENT_SECRET
export AZURE_CLIENT_CERTIFICATE_PATH=$run/app.pem
api() { curl -sS --cacert "$SPO_CA_FILE" -X "$1" ${2:+-d "$2"} "https://localhost:$port/_emulator/$3"; }
# stat EXPR: a Python expression over the emulator's stats d
stat() { api GET "" stats | /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
val() { grep "^$1 " "$2" | cut -d' ' -f2; }
pass=0 fail=0
PROBE="d.get('oidc_requests')"
REFUSED="(d.get('assertion_errors') or {}).get('AADSTS700024')"
for c in "day_behind -86400" "years_ahead $((3 * 365 * 86400))" "epoch_1970 1970"; do
  name=${c%% *} arg=${c#* }
  api POST '{}' reset >/dev/null
  "$run/cert_clock" "$arg" >"$run/$name.out" 2>"$run/$name.err"
  rc=$?
  # the first of the two token requests: a probe for the time, or an assertion refused for its time
  if [ "$(val before_build "$run/$name.out")" = 1 ]; then first=$PROBE; else first=$REFUSED; fi
  reqs=$(stat 'd["token_requests"] + (d.get("oidc_requests") or 0)') ok=$(stat 'd.get("assertions_ok")')
  firsts=$(stat "$first")
  err=$(val wall_error "$run/$name.out")
  if [ $rc = 0 ] && [ "$(val sites "$run/$name.out")" = 25 ] && [ "$reqs" = 2 ] && [ "$ok" = 1 ] &&
     [ "$firsts" = 1 ] && [ "${err#-}" -le 2 ]; then
    echo "ok clock.$name: 25 sites, 2 requests to the identity platform, corrected by $(val clock_offset "$run/$name.out") s"
    pass=$((pass + 1))
  else
    echo "FAIL clock.$name: rc=$rc identity_requests=$reqs assertions_ok=$ok first=$firsts wall_error=$err; $(tail -2 "$run/$name.err" | tr '\n' ' ')"
    fail=$((fail + 1))
  fi
done
echo "clock: $pass passed, $fail failed"
[ $fail = 0 ]

#!/usr/bin/env bash
# make demo: start the bundled emulator of login.microsoftonline.com and Graph on loopback with a
# freshly made test PKI, then run `spo token` and `spo sites` against it, and the reporting job of
# the README (a certificate sign-in, `spo put` of a JSON report into "Reports", `spo list-add` of a
# row into "Telemetry", `spo ls` of what arrived).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
run=build/demo; rm -rf "$run"; mkdir -p "$run"
bash tests/pki.sh "$run/pki" >/dev/null
/usr/bin/python3 tests/emulator/emulator.py --cert "$run/pki/chain.pem" --key "$run/pki/server.key" \
  --port 0 --sites 100 --port-file "$run/port" >"$run/emulator.out" 2>"$run/emulator.err" &
emu=$!
trap 'kill $emu 2>/dev/null; wait $emu 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$run/port" ] && break; sleep 0.1; done
port=$(cat "$run/port")
# The emulator's test identity (see tests/emulator/README.md); a real tenant needs only the first
# three variables, and no SPO_CA_FILE / URLs at all.
export AZURE_TENANT_ID=aaaabbbb-0000-cccc-1111-dddd2222eeee
export AZURE_CLIENT_ID=535fb089-9ff3-47b6-9bfb-4f1264799865
export AZURE_CLIENT_SECRET='Xq8Q~fT3.kL_9zR-eP+wN/uY=bD4mG6hJ2sV7cA1'
unset https_proxy HTTPS_PROXY all_proxy ALL_PROXY  # the emulator is local: never through a proxy
export AZURE_AUTHORITY_HOST=https://localhost:$port SPO_GRAPH_URL=https://localhost:$port
export SPO_CA_FILE=$run/pki/ca.pem
# The demo's own token cache: `spo sites` reuses the token `spo token` got; ~/.config is not touched.
export SPO_TOKEN_CACHE=$PWD/$run/tokens
echo "\$ spo token            (emulator on https://localhost:$port, trusting $SPO_CA_FILE)"
build/spo token
echo "\$ spo sites"
build/spo sites
# The reporting job, signed in with a certificate as unattended devices should be: the app's
# certificate is registered on the emulator (as uploading it to the app registration would do).
(cd "$run" && openssl req -x509 -newkey rsa:2048 -nodes -keyout app.key -out app.crt -days 30 \
  -subj /CN=spo-demo >/dev/null 2>&1 && cat app.crt app.key >app.pem && chmod 600 app.pem)
curl -sS --cacert "$SPO_CA_FILE" -X POST -d "{\"client_cert\": \"$PWD/$run/app.crt\"}" \
  "https://localhost:$port/_emulator/config" >/dev/null
unset AZURE_CLIENT_SECRET
export AZURE_CLIENT_CERTIFICATE_PATH=$PWD/$run/app.pem
site=https://contoso.sharepoint.com    # the emulator's root site
report=$run/report-$(date -u +%Y-%m-%dT%H%MZ).json
printf '{"device":"gw-017","at":"%s","temperature_c":21.5,"door_open":false}\n' \
  "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$report"
echo "\$ spo put $site $(basename "$report") gw-017/ --drive Reports   (certificate sign-in)"
build/spo put "$site" "$report" gw-017/ --drive Reports
echo "\$ spo list-add $site Telemetry Title=\"gw-017 report\" Device=gw-017 Temperature:=21.5 Ok:=true"
build/spo list-add "$site" Telemetry Title="gw-017 report" Device=gw-017 Temperature:=21.5 Ok:=true
echo "\$ spo ls $site gw-017 --drive Reports"
build/spo ls "$site" gw-017 --drive Reports

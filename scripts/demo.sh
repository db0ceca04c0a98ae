#!/usr/bin/env bash
# make demo: start the bundled emulator of login.microsoftonline.com and Graph on loopback with a
# freshly made test PKI, then run `spo token` and `spo sites` against it, and the reporting job of
# the README (a certificate sign-in, `spo put` of a JSON report into "Reports", `spo list-add` of a
# row into "Telemetry", `spo ls` of what arrived).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
run=build/demo; rm -rf "$run"; mkdir -p "$run"
# The emulator and its test identity (tests/emulator/start.sh); a real tenant needs only
# AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, and no SPO_CA_FILE / URLs at all.
. tests/emulator/start.sh
emu_start "$run" --sites 100
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

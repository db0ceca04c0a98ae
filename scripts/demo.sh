#!/usr/bin/env bash
# make demo: start the bundled emulator of login.microsoftonline.com and Graph on loopback with a
# freshly made test PKI, then run `spo token` and `spo sites` against it.
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

#!/usr/bin/env bash
# make memreport: run `spo sites` against the emulator for 100 and for 20,000 sites and print, for
# each, spo's static state, the mbedTLS pool's peak, the stack high-water mark (painted) and their
# total. The peaks must not depend on the number of sites; the script fails if they do.
#   SPO_BIN=path  binary to measure (default build/linux-host/spo), SPO_WRAP="qemu-arm -L …" for cross
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bin=${SPO_BIN:-build/linux-host/spo}
make -s cli >/dev/null   # the host build (a cross board's binary is built by `make memreport`)
run=build/memreport-${SPO_BOARD:-linux-host}; rm -rf "$run"; mkdir -p "$run"
echo "memreport: $bin${SPO_WRAP:+ under $SPO_WRAP}"
bash tests/pki.sh "$run/pki" >/dev/null
/usr/bin/python3 tests/emulator/emulator.py --cert "$run/pki/chain.pem" --key "$run/pki/server.key" \
  --port 0 --sites 20000 --port-file "$run/port" >/dev/null 2>"$run/emulator.err" &
emu=$!
trap 'kill $emu 2>/dev/null; wait $emu 2>/dev/null || true' EXIT
for _ in $(seq 200); do [ -s "$run/port" ] && break; sleep 0.1; done
port=$(cat "$run/port")
export AZURE_TENANT_ID=aaaabbbb-0000-cccc-1111-dddd2222eeee
export AZURE_CLIENT_ID=535fb089-9ff3-47b6-9bfb-4f1264799865
export AZURE_CLIENT_SECRET='Xq8Q~fT3.kL_9zR-eP+wN/uY=bD4mG6hJ2sV7cA1'
export AZURE_AUTHORITY_HOST=https://localhost:$port SPO_GRAPH_URL=https://localhost:$port
export SPO_CA_FILE=$run/pki/ca.pem SPO_MEMREPORT=1
# Each run measured the same way, token request included (and nothing lands in ~/.config).
export SPO_TOKEN_CACHE=off

measure() { # sites
  curl -sS --cacert "$SPO_CA_FILE" -X POST -d "{\"sites\": $1}" "https://localhost:$port/_emulator/config" >/dev/null
  # ASLR moves the stack by a few bytes from run to run; without it the figure is reproducible.
  ${SPO_WRAP:-setarch -R} "$bin" sites >"$run/out-$1" 2>"$run/report-$1"
  local n; n=$(wc -l <"$run/out-$1")
  [ "$n" = "$1" ] || { echo "memreport: expected $1 sites, got $n"; cat "$run/report-$1"; exit 1; }
  sed -n 's/^memreport: //p' "$run/report-$1" >"$run/fig-$1"
}
measure 100
cp "$run/fig-100" "$run/fig-100.keep"
measure 20000
# The same listing against the shape of Microsoft's real chains (RSA-4096 issuing CA, a leaf with
# many names): the pool figure that matters for login.microsoftonline.com and graph.microsoft.com.
kill $emu 2>/dev/null; wait $emu 2>/dev/null || true
rm -f "$run/port"
/usr/bin/python3 tests/emulator/emulator.py --cert "$run/pki/mslike-chain.pem" --key "$run/pki/mslike.key" \
  --port 0 --sites 100 --port-file "$run/port" >/dev/null 2>"$run/emulator.err" &
emu=$!
for _ in $(seq 200); do [ -s "$run/port" ] && break; sleep 0.1; done
port=$(cat "$run/port")
export AZURE_AUTHORITY_HOST=https://localhost:$port SPO_GRAPH_URL=https://localhost:$port
measure 100; mv "$run/fig-100" "$run/fig-ms"; mv "$run/fig-100.keep" "$run/fig-100" 
num() { grep "^$2" "$run/fig-$1" | grep -Eo '[0-9]+' | head -1; }
printf '\n| sites | spo static state | mbedTLS pool peak | stack high-water | total |\n|---:|---:|---:|---:|---:|\n'
for n in 100 20000; do
  printf '| %s | %s B | %s B | %s B | %s B |\n' "$n" "$(num $n static)" "$(num $n 'mbedTLS pool')" \
    "$(num $n 'stack')" "$(num $n total)"
done
printf '| 100, Microsoft-like chain | %s B | %s B | %s B | %s B |\n' "$(num ms static)" "$(num ms 'mbedTLS pool')" \
  "$(num ms 'stack')" "$(num ms total)"
echo; cat "$run/fig-100" | head -1
echo "pool size $(grep -Eo 'of [0-9]+ bytes' "$run/fig-100" | grep -Eo '[0-9]+') bytes (SPO_TLS_POOL_SIZE): static + pool size + stack = $(( $(num 100 static) + $(grep -Eo 'of [0-9]+ bytes' "$run/fig-100" | grep -Eo '[0-9]+') + $(num 100 stack) )) bytes reserved"
same=1
for k in static 'mbedTLS pool' stack; do [ "$(num 100 "$k")" = "$(num 20000 "$k")" ] || same=0; done
if [ $same = 1 ]; then echo "memreport: same peaks for 100 and 20,000 sites"; else echo "memreport: PEAKS DIFFER"; exit 1; fi

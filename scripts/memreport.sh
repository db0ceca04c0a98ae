#!/usr/bin/env bash
# make memreport: run `spo sites` against the emulator for 100 and for 20,000 sites and print, for
# each, spo's static state, the mbedTLS pool's peak, the stack high-water mark (painted) and their
# total; then the same for `spo put` of 4 MiB + 1 and of 50 MiB (upload sessions). The peaks must not
# depend on the number of sites, nor on the size of the file; the script fails if they do.
#   SPO_BIN=path  binary to measure (default build/linux-host/spo), SPO_WRAP="qemu-arm -L …" for cross
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bin=${SPO_BIN:-build/linux-host/spo}
make -s cli >/dev/null   # the host build (a cross board's binary is built by `make memreport`)
run=build/memreport-${SPO_BOARD:-linux-host}; rm -rf "$run"; mkdir -p "$run"
echo "memreport: $bin${SPO_WRAP:+ under $SPO_WRAP}"
. tests/emulator/start.sh
emu_start "$run" --sites 20000
export SPO_MEMREPORT=1
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
# Uploads of 4 MiB + 1 and of 50 MiB (upload sessions of 2 and 16 fragments, streamed through the
# same fixed buffers): the peaks must not depend on the file's size. Their static state adds spo
# put's (the uploadUrl, request URLs, the resume record).
measure_put() { # name bytes
  head -c "$2" /dev/urandom >"$run/put-$1.bin"
  XDG_CONFIG_HOME=$run/config ${SPO_WRAP:-setarch -R} "$bin" put contoso.sharepoint.com "$run/put-$1.bin" \
    "memreport/put-$1.bin" --if-exists replace >"$run/out-put-$1" 2>"$run/report-put-$1"
  [ "$(wc -l <"$run/out-put-$1")" = 1 ] || { echo "memreport: the upload of $2 bytes failed"; cat "$run/report-put-$1"; exit 1; }
  sed -n 's/^memreport: //p' "$run/report-put-$1" >"$run/fig-put-$1"
  rm -f "$run/put-$1.bin"
}
measure_put 4m1 $(((4 << 20) + 1))
measure_put 50m $((50 << 20))
# spo get of 1 MiB and of 50 MiB: a download streams through the same fixed buffers, so its peaks
# must not depend on the file's size either.
measure_get() { # bytes tag (tags of equal length: argv's length shifts the stack by its alignment)
  curl -sS --cacert "$SPO_CA_FILE" -X POST -d "{\"path\": \"memreport/$2.bin\", \"size\": $1, \"pattern\": \"random\"}" \
    "https://localhost:$port/_emulator/drive/put" >/dev/null
  rm -f "$run/dl-$2.bin"
  ${SPO_WRAP:-setarch -R} "$bin" get contoso.sharepoint.com "memreport/$2.bin" "$run/dl-$2.bin" \
    >"$run/out-get-$1" 2>"$run/report-get-$1"
  local n; n=$(stat -c %s "$run/dl-$2.bin" 2>/dev/null || echo 0)
  [ "$n" = "$1" ] || { echo "memreport: spo get wrote $n bytes, expected $1"; cat "$run/report-get-$1"; exit 1; }
  sed -n 's/^memreport: //p' "$run/report-get-$1" >"$run/fig-get-$1"
  rm -f "$run/dl-$2.bin"
}
measure_get 1048576 small
measure_get 52428800 large
# The same listing against the shape of Microsoft's real chains (RSA-4096 issuing CA, a leaf with
# many names): the pool figure that matters for login.microsoftonline.com and graph.microsoft.com.
emu_stop
EMU_CHAIN=mslike-chain.pem EMU_KEY=mslike.key emu_start "$run" --sites 100
measure 100; mv "$run/fig-100" "$run/fig-ms"
# Certificate sign-in (RSA-4096, PS256) on the same chain: signing runs with no TLS connection open
# (src/auth.c), so the pool peak is the larger of the two, not their sum.
openssl req -x509 -newkey rsa:4096 -nodes -keyout "$run/app.key" -out "$run/app.crt" -days 30 \
  -subj /CN=spo-memreport >/dev/null 2>&1
cat "$run/app.crt" "$run/app.key" >"$run/app.pem"
curl -sS --cacert "$SPO_CA_FILE" -X POST -d "{\"client_cert\": \"$run/app.crt\"}" \
  "https://localhost:$port/_emulator/config" >/dev/null
AZURE_CLIENT_SECRET='' AZURE_CLIENT_CERTIFICATE_PATH=$run/app.pem measure 100
mv "$run/fig-100" "$run/fig-mscert"; mv "$run/fig-100.keep" "$run/fig-100"
num() { grep "^$2" "$run/fig-$1" | grep -Eo '[0-9]+' | head -1; }
printf '\n| sites | spo static state | mbedTLS pool peak | stack high-water | total |\n|---:|---:|---:|---:|---:|\n'
for n in 100 20000; do
  printf '| %s | %s B | %s B | %s B | %s B |\n' "$n" "$(num $n static)" "$(num $n 'mbedTLS pool')" \
    "$(num $n 'stack')" "$(num $n total)"
done
for f in 4m1 50m; do
  printf '| put %s (session) | %s B | %s B | %s B | %s B |\n' "$([ $f = 50m ] && echo 50 MiB || echo '4 MiB + 1')" \
    "$(num put-$f static)" "$(num put-$f 'mbedTLS pool')" "$(num put-$f 'stack')" "$(num put-$f total)"
done
for n in 1048576 52428800; do
  printf '| spo get, %s MiB | %s B | %s B | %s B | %s B |\n' "$((n / 1048576))" "$(num get-$n static)" \
    "$(num get-$n 'mbedTLS pool')" "$(num get-$n 'stack')" "$(num get-$n total)"
done
printf '| 100, Microsoft-like chain | %s B | %s B | %s B | %s B |\n' "$(num ms static)" "$(num ms 'mbedTLS pool')" \
  "$(num ms 'stack')" "$(num ms total)"
printf '| 100, Microsoft-like chain, RSA-4096 certificate | %s B | %s B | %s B | %s B |\n' "$(num mscert static)" \
  "$(num mscert 'mbedTLS pool')" "$(num mscert 'stack')" "$(num mscert total)"
echo; cat "$run/fig-100" | head -1
echo "pool size $(grep -Eo 'of [0-9]+ bytes' "$run/fig-100" | grep -Eo '[0-9]+') bytes (SPO_TLS_POOL_SIZE): static + pool size + stack = $(( $(num 100 static) + $(grep -Eo 'of [0-9]+ bytes' "$run/fig-100" | grep -Eo '[0-9]+') + $(num 100 stack) )) bytes reserved"
same=1
for k in static 'mbedTLS pool' stack; do [ "$(num 100 "$k")" = "$(num 20000 "$k")" ] || same=0; done
if [ $same = 1 ]; then echo "memreport: same peaks for 100 and 20,000 sites"; else echo "memreport: PEAKS DIFFER"; exit 1; fi
same=1
for k in static 'mbedTLS pool' stack; do [ "$(num put-4m1 "$k")" = "$(num put-50m "$k")" ] || same=0; done
if [ $same = 1 ]; then echo "memreport: same peaks for uploads of 4 MiB + 1 and 50 MiB"
else echo "memreport: UPLOAD PEAKS DIFFER with the file's size"; exit 1; fi
grep "^CLI buffers" "$run/fig-100" || true
for k in static 'mbedTLS pool' stack; do
  [ "$(num get-1048576 "$k")" = "$(num get-52428800 "$k")" ] || { echo "memreport: DOWNLOAD PEAKS DIFFER ($k)"; exit 1; }
done
echo "memreport: same peaks for 1 MiB and 50 MiB downloads"

# Sourced (not run) by the scripts that put spo in front of the emulator: demo, bench, memreport,
# the long runs and the install check.
#
#   emu_start RUN [EMULATOR OPTION...]
#     makes the test PKI in RUN/pki (tests/pki.sh, idempotent), starts the emulator on a free
#     loopback port with RUN/pki/$EMU_CHAIN and $EMU_KEY (default chain.pem and server.key), stops
#     it when the script exits, and exports what spo needs to reach it: the emulator's test identity
#     (tests/emulator/README.md; a real tenant needs only those three variables), its URLs and
#     SPO_CA_FILE, with every proxy variable unset (the emulator is local: never through a proxy).
#     Sets $port. Returns non-zero, with the emulator's last words, if it does not start.
#   emu_stop
#     stops it (emu_start may then be called again).
# The caller has cd'ed to the top of the tree.

emu_start() {
  local run=$1; shift
  case $run in /*) ;; *) run=$PWD/$run ;; esac
  bash tests/pki.sh "$run/pki" >/dev/null || return 1
  rm -f "$run/port"
  /usr/bin/python3 tests/emulator/emulator.py --cert "$run/pki/${EMU_CHAIN:-chain.pem}" \
    --key "$run/pki/${EMU_KEY:-server.key}" --port 0 --port-file "$run/port" "$@" \
    >"$run/emulator.out" 2>"$run/emulator.err" &
  emu=$!
  trap emu_stop EXIT
  for _ in $(seq 300); do [ -s "$run/port" ] && break; sleep 0.1; done
  [ -s "$run/port" ] || { echo "emulator did not start: $(tail -3 "$run/emulator.err")" >&2; return 1; }
  port=$(cat "$run/port")
  export AZURE_TENANT_ID=aaaabbbb-0000-cccc-1111-dddd2222eeee
  export AZURE_CLIENT_ID=535fb089-9ff3-47b6-9bfb-4f1264799865
  export AZURE_CLIENT_SECRET='Xq8Q~fT3.kL_9zR-eP+wN/uY=bD4mG6hJ2sV7cA1'
  unset https_proxy HTTPS_PROXY all_proxy ALL_PROXY
  export AZURE_AUTHORITY_HOST=https://localhost:$port SPO_GRAPH_URL=https://localhost:$port
  export SPO_CA_FILE=$run/pki/ca.pem
}

emu_stop() {
  [ -n "${emu:-}" ] || return 0
  kill "$emu" 2>/dev/null || true; wait "$emu" 2>/dev/null || true
  emu=
}

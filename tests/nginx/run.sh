#!/usr/bin/env bash
# spo against a real HTTP server: nginx (Debian's nginx-light) with TLS on loopback, serving
# recorded Graph pages and a token endpoint.
#   tests/nginx/run.sh [SPO ...]     default: build/linux-host/spo and build/linux-host-asan/spo
# Ends "nginx: N passed, N failed"; the exit status is non-zero when a case failed.
#
# nginx runs in the foreground (daemon off, master_process off) as a child of this script, with its
# own configuration, pid, logs and temp paths in a temporary folder, on 127.0.0.1 and free ports; it
# is stopped on exit (and `timeout` bounds it anyway). The pages come from the emulator's generator
# (tests/nginx/make_pages.py): 1,000 sites in 5 pages chained by absolute @odata.nextLinks back to
# nginx. Odd pages are static files sent with Content-Length; even pages go through sub_filter
# (which writes the nextLink's origin from the Host header), so nginx does not know their length
# and sends them chunked. The access log records nginx's connection serial ($connection) and
# request count per connection, which shows whether spo reused the connection across pages.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
if [ $# -gt 0 ]; then spos=("$@"); else spos=(build/linux-host/spo build/linux-host-asan/spo); fi
NGINX=/usr/sbin/nginx
if [ ! -x "$NGINX" ]; then
  SPO_DEPS_EXTRA=nginx-light bash scripts/deps.sh >/dev/null || { echo "nginx: cannot install nginx-light"; echo "nginx: 0 passed, 1 failed"; exit 1; }
fi
tmp=$(mktemp -d /tmp/spo-nginx.XXXXXX)
ngpid=
cleanup() {
  if [ -n "$ngpid" ]; then kill "$ngpid" 2>/dev/null; wait "$ngpid" 2>/dev/null; fi
  if [ "${SPO_KEEP:-0}" = 1 ]; then echo "nginx: files kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
pass=0 fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

bash tests/pki.sh "$tmp/pki" >/dev/null 2>&1 || { echo "nginx: tests/pki.sh failed"; echo "nginx: 0 passed, 1 failed"; exit 1; }
mkdir -p "$tmp/logs" "$tmp/tmp"
port=$(free_port) port2=$(free_port)
while [ "$port2" = "$port" ]; do port2=$(free_port); done
origin=https://localhost:$port
pages=$(/usr/bin/python3 tests/nginx/make_pages.py "$tmp/www" "$origin" 1000 200) || { echo "nginx: make_pages.py failed"; echo "nginx: 0 passed, 1 failed"; exit 1; }
# A token of Entra's usual size; nginx lets a Graph request through only with exactly this bearer.
token=$(/usr/bin/python3 -c 'import base64,os; print(base64.urlsafe_b64encode(os.urandom(1200)).decode().rstrip("=")[:1500])')
odata='application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8'

# One server block per port: $1 port, $2 the map that picks the page file, $3 extra directives.
server_block() {
  cat <<EOF
    server {
        listen 127.0.0.1:$1 ssl;
        server_name localhost;
        ssl_certificate $tmp/pki/chain.pem;
        ssl_certificate_key $tmp/pki/server.key;
        keepalive_timeout 60s;
        $3
        location = /tenant1/oauth2/v2.0/token {
            if (\$request_method != POST) { return 405; }
            default_type application/json;
            return 200 '{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"$token"}';
        }
        location = /tenant2/oauth2/v2.0/token {
            default_type application/json;
            return 200 '{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"not-the-right-one"}';
        }
        location = /v1.0/sites {
            default_type application/json;
            if (\$http_authorization != "Bearer $token") {
                return 401 '{"error":{"code":"InvalidAuthenticationToken","message":"Access token validation failure.","innerError":{"request-id":"nginx-\$request_id"}}}';
            }
            rewrite ^ \$$2? last;
        }
        location /length/ {
            internal;
            default_type "$odata";
        }
        location /chunked/ {
            internal;
            default_type "$odata";
            sub_filter_types *;
            sub_filter_once off;
            sub_filter __ORIGIN__ https://\$http_host;
        }
    }
EOF
}
cat > "$tmp/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log info;
events { worker_connections 64; }
http {
    client_body_temp_path $tmp/tmp/body;
    proxy_temp_path $tmp/tmp/proxy;
    fastcgi_temp_path $tmp/tmp/fastcgi;
    uwsgi_temp_path $tmp/tmp/uwsgi;
    scgi_temp_path $tmp/tmp/scgi;
    log_format spo '\$server_port \$connection \$connection_requests \$request_method "\$request_uri" \$uri '
                   '\$status te=\$sent_http_transfer_encoding cl=\$sent_http_content_length';
    access_log $tmp/logs/access.log spo;
    root $tmp/www;
    # page N of the listing, from \$skiptoken=pN: even pages from chunked/, the others from length/
    map \$args \$sites_page {
        default                                   /length/p1.json;
        "~skiptoken=p(?<n>[0-9]*[02468])(&|\$)"    /chunked/p\$n.json;
        "~skiptoken=p(?<n>[0-9]+)(&|\$)"           /length/p\$n.json;
    }
    # every page through sub_filter, for the second port (its nextLinks must name its own port)
    map \$args \$sites_page_chunked {
        default                                   /chunked/p1.json;
        "~skiptoken=p(?<n>[0-9]+)(&|\$)"           /chunked/p\$n.json;
    }
$(server_block "$port" sites_page "")
$(server_block "$port2" sites_page_chunked "keepalive_requests 2;  # then 'Connection: close'")
}
EOF

"$NGINX" -t -q -p "$tmp" -c "$tmp/nginx.conf" 2>"$tmp/logs/nginx-t.err" || {
  echo "nginx: configuration refused:"; cat "$tmp/logs/nginx-t.err"; echo "nginx: 0 passed, 1 failed"; exit 1; }
timeout 600 "$NGINX" -p "$tmp" -c "$tmp/nginx.conf" >"$tmp/logs/nginx.out" 2>&1 &
ngpid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$port2") 2>/dev/null && break
  sleep 0.1
done
if ! kill -0 "$ngpid" 2>/dev/null; then
  echo "nginx: did not start:"; cat "$tmp/logs/nginx.out" "$tmp/logs/error.log" 2>/dev/null | tail -5
  echo "nginx: 0 passed, 1 failed"; exit 1
fi
echo "nginx: $("$NGINX" -v 2>&1 | sed 's/.*version: //') on 127.0.0.1:$port and :$port2 (keepalive_requests 2), $pages pages"

export AZURE_TENANT_ID=tenant1 AZURE_CLIENT_ID=535fb089-9ff3-47b6-9bfb-4f1264799865
export AZURE_CLIENT_SECRET='Xq8Q~fT3.kL_9zR-eP+wN/uY=bD4mG6hJ2sV7cA1'
unset https_proxy HTTPS_PROXY all_proxy ALL_PROXY  # the emulator is local: never through a proxy
export AZURE_AUTHORITY_HOST=$origin SPO_GRAPH_URL=$origin SPO_CA_FILE=$tmp/pki/ca.pem
# Every run asks the token endpoint (the checks count its POSTs), and nothing lands in ~/.config.
export SPO_TOKEN_CACHE=off

log=$tmp/logs/access.log
# Runs spo (bounded), leaving stdout, stderr and the access-log lines it caused in $tmp/run.*
run() {
  local before; before=$(wc -l <"$log" 2>/dev/null || echo 0)
  timeout 120 "$spo" "$@" >"$tmp/run.out" 2>"$tmp/run.err"; rc=$?
  sleep 0.2   # nginx writes the log line just after the answer
  tail -n +"$((before + 1))" "$log" >"$tmp/run.log"
}
err1() { tr '\n' ' ' <"$tmp/run.err" | cut -c1-300; }
# The /v1.0/sites lines of run.log: "connection requests uri te cl"
sites_log() { awk '$5 ~ /^"\/v1\.0\/sites/ {print $2, $3, $6, $8, $9}' "$tmp/run.log"; }

for spo in "${spos[@]}"; do
  case $spo in *asan*) tag="[asan]" ;; *) tag="" ;; esac
  if [ ! -x "$spo" ]; then bad "nginx$tag" "no spo binary at $spo"; continue; fi

  # 1. TSV listing, keep-alive across pages, both framings seen
  name=nginx.sites_tsv$tag
  run sites
  if [ $rc != 0 ]; then bad "$name" "exit $rc: $(err1)"
  elif ! cmp -s "$tmp/run.out" "$tmp/www/expected.tsv"; then
    bad "$name" "stdout differs from the expected listing: $(cmp "$tmp/run.out" "$tmp/www/expected.tsv" 2>&1 | head -1)"
  else
    conns=$(sites_log | awk '{print $1}' | sort -u | wc -l)
    reqs=$(sites_log | awk '{printf "%s ", $2}')
    chunked=$(sites_log | grep -c 'te=chunked cl=-')
    length=$(sites_log | grep -c 'te=- cl=[0-9]')
    if [ "$(sites_log | wc -l)" != "$pages" ]; then bad "$name" "nginx saw $(sites_log | wc -l) page requests, expected $pages"
    elif [ "$conns" != 1 ] || [ "$reqs" != "$(seq -s ' ' 1 "$pages") " ]; then
      bad "$name" "pages not on one kept-alive connection: $conns connections, requests per connection: $reqs"
    elif [ "$chunked" != $((pages / 2)) ] || [ "$length" != $(((pages + 1) / 2)) ]; then
      bad "$name" "expected $((pages / 2)) chunked and $(((pages + 1) / 2)) Content-Length pages, log says $chunked and $length"
    else ok "$name ($pages pages on connection $(sites_log | awk 'NR==1{print $1}'), requests $reqs; $chunked chunked, $length with Content-Length)"
    fi
  fi

  # 2. JSON listing
  name=nginx.sites_json$tag
  run sites --json
  if [ $rc != 0 ]; then bad "$name" "exit $rc: $(err1)"
  elif ! cmp -s "$tmp/run.out" "$tmp/www/expected.jsonl"; then bad "$name" "stdout differs from the expected JSON lines"
  elif [ -s "$tmp/run.err" ]; then bad "$name" "stderr not empty: $(err1)"
  else ok "$name"
  fi

  # 3. the token, byte for byte
  name=nginx.token_raw$tag
  run token --raw
  if [ $rc != 0 ]; then bad "$name" "exit $rc: $(err1)"
  elif [ "$(cat "$tmp/run.out")" != "$token" ] || [ "$(wc -l <"$tmp/run.out")" != 1 ]; then bad "$name" "stdout is not the token alone on a line"
  elif ! grep -q '^[0-9]* [0-9]* 1 POST "/tenant1/oauth2/v2.0/token" .* 200 ' "$tmp/run.log"; then bad "$name" "nginx did not log one POST to the token endpoint"
  else ok "$name"
  fi

  name=nginx.token$tag
  run token
  if [ $rc != 0 ]; then bad "$name" "exit $rc: $(err1)"
  elif ! grep -Eqx 'token acquired: 1500 bytes, valid for 3599 s, expires [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z' "$tmp/run.out"; then
    bad "$name" "unexpected stdout: $(head -c 200 "$tmp/run.out")"
  elif grep -qF "${token:100:40}" "$tmp/run.out" "$tmp/run.err"; then bad "$name" "the token appears in the output"
  else ok "$name"
  fi

  # 4. nginx ends each connection after 2 requests (keepalive_requests 2: the 2nd answer says
  #    "Connection: close"): spo opens a new one, exact listing
  name=nginx.keepalive_requests_2$tag
  AZURE_AUTHORITY_HOST=https://localhost:$port2 SPO_GRAPH_URL=https://localhost:$port2 run sites --json
  if [ $rc != 0 ]; then bad "$name" "exit $rc: $(err1)"
  elif ! cmp -s "$tmp/run.out" "$tmp/www/expected.jsonl"; then bad "$name" "stdout differs from the expected JSON lines"
  else
    conns=$(sites_log | awk '{print $1}' | sort -u | wc -l)
    reqs=$(sites_log | awk '{printf "%s ", $2}')
    want=$(for i in $(seq 1 "$pages"); do printf '%s ' $(((i - 1) % 2 + 1)); done)
    if [ "$(sites_log | wc -l)" != "$pages" ] || [ "$reqs" != "$want" ]; then
      bad "$name" "expected $pages pages, two per connection (requests per connection $want): $(sites_log | wc -l) pages, $reqs"
    else ok "$name ($pages pages over $conns connections)"
    fi
  fi

  # 5. a token Graph refuses: one fresh token, then a clear failure with the error code
  name=nginx.graph_401$tag
  AZURE_TENANT_ID=tenant2 run sites
  tokens=$(grep -c '"/tenant2/oauth2/v2.0/token"' "$tmp/run.log")
  if [ $rc != 1 ]; then bad "$name" "exit $rc, expected 1"
  elif [ -s "$tmp/run.out" ]; then bad "$name" "stdout not empty"
  elif ! grep -q 'HTTP 401 InvalidAuthenticationToken (request-id nginx-[0-9a-f]*)' "$tmp/run.err" || [ "$(wc -l <"$tmp/run.err")" != 1 ]; then
    bad "$name" "stderr is not one line naming HTTP 401, the code and nginx's request-id: $(err1)"
  elif refused=$(awk '$5 ~ /^"\/v1\.0\/sites/ && $7 == 401' "$tmp/run.log" | wc -l); [ "$tokens" != 2 ] || [ "$refused" != 2 ]; then
    bad "$name" "expected 2 token requests and 2 refused page requests: $tokens, $refused"
  else ok "$name"
  fi

  # 6. nginx's own HTML 404 (a wrong Graph URL): failure that names the status
  name=nginx.html_404$tag
  SPO_GRAPH_URL=$origin/nope run sites
  if [ $rc != 1 ]; then bad "$name" "exit $rc, expected 1"
  elif [ -s "$tmp/run.out" ]; then bad "$name" "stdout not empty"
  elif ! grep -q 'HTTP 404' "$tmp/run.err" || [ "$(wc -l <"$tmp/run.err")" != 1 ]; then bad "$name" "stderr is not one line naming HTTP 404: $(err1)"
  elif ! grep -q '"/nope/v1.0/sites?' "$tmp/run.log"; then bad "$name" "nginx did not see /nope/v1.0/sites"
  else ok "$name"
  fi
done

if ! kill -0 "$ngpid" 2>/dev/null; then bad nginx.alive "nginx exited during the run"; fi
if grep -E '\[(alert|crit|emerg)\]' "$tmp/logs/error.log" >/dev/null; then
  bad nginx.error_log "$(grep -E '\[(alert|crit|emerg)\]' "$tmp/logs/error.log" | head -1)"
fi
echo "nginx: $pass passed, $fail failed"
[ $fail = 0 ]

#!/usr/bin/env bash
# `make install`, checked as a user of it would: into a prefix with spo's bundled mbedTLS, and into
# another with MBEDTLS_DIR (an mbedTLS of one's own, here the one .deps built); a staged install
# (DESTDIR) lays out the same files. In each prefix a program (tests/install/consumer.c) is built
# with nothing but `pkg-config --cflags --libs spo`, with -Wall -Wextra -Werror, and must list the
# emulator's sites exactly as the emulator says they are; so must the installed spo; the man page
# must render without a warning.
#   tests/install/run.sh      ends "install: N passed, N failed"
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
run=$top/build/install-check; rm -rf "$run"; mkdir -p "$run"
make -s cli >/dev/null || exit 1
. tests/emulator/start.sh
emu_start "$run" --sites 25 --page-size 10 --dump-sites "$run/sites" || exit 1
unset SPO_TOKEN_CACHE
export XDG_CONFIG_HOME=$run/config  # the installed spo's token cache, not the user's
pass=0 fail=0
ok() { echo "ok install.$1"; pass=$((pass + 1)); }
bad() { echo "FAIL install.$1: $2"; fail=$((fail + 1)); }
[ "$(wc -l <"$run/sites.tsv")" = 25 ] || { echo "install: the emulator's site list is not 25 lines"; exit 1; }

# install_as NAME MAKE-ARGUMENT...: make install with them, its output in install-NAME.log
install_as() {
  local name=$1; shift
  make -s install "$@" >"$run/install-$name.log" 2>&1 ||
    bad "$name.install" "$(tail -3 "$run/install-$name.log" | tr '\n' ' ')"
}

# check NAME PREFIX: build the consumer from PREFIX's spo.pc, run it and PREFIX's spo.
check() {
  local name=$1 prefix=$2 flags out=$run/$1
  if ! flags=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags --libs spo 2>&1); then
    bad "$name.pkgconfig" "$flags"; return
  fi
  # from outside the tree, so that nothing but spo.pc's flags can find a header
  if ! (cd "$run" && cc -std=c11 -Wall -Wextra -Werror "$top/tests/install/consumer.c" \
        -o "$out.consumer" $flags) >"$out.cc" 2>&1; then
    bad "$name.build" "$(head -5 "$out.cc" | tr '\n' ' ')"; return
  fi
  ok "$name.build: cc \$(pkg-config --cflags --libs spo) consumer.c"
  if "$out.consumer" >"$out.consumer.out" 2>"$out.consumer.err" && cmp -s "$out.consumer.out" "$run/sites.tsv"; then
    ok "$name.consumer: 25 sites over 3 pages through the installed library"
  else
    bad "$name.consumer" "$(tail -1 "$out.consumer.err") $(diff "$out.consumer.out" "$run/sites.tsv" | head -3 | tr '\n' ' ')"
  fi
}

install_as bundled PREFIX="$run/bundled"
check bundled "$run/bundled"
if "$run/bundled/bin/spo" sites >"$run/spo.out" 2>"$run/spo.err" && cmp -s "$run/spo.out" "$run/sites.tsv"; then
  ok "bundled.cli: the installed spo lists the same 25 sites"
else
  bad bundled.cli "$(tail -1 "$run/spo.err")"
fi
man=$run/bundled/share/man/man1/spo.1
if ! command -v groff >/dev/null; then
  bad bundled.man "groff is not installed (scripts/deps.sh installs groff-base)"
elif groff -man -Tutf8 -ww "$man" >"$run/spo.1.txt" 2>"$run/spo.1.warn" && [ ! -s "$run/spo.1.warn" ] &&
     [ "$(wc -l <"$run/spo.1.txt")" -gt 50 ]; then
  ok "bundled.man: spo.1 renders with no warning"
else
  bad bundled.man "$(head -3 "$run/spo.1.warn" | tr '\n' ' ')(rendered $(wc -l <"$run/spo.1.txt") lines)"
fi

mb=$top/.deps/mbedtls-build/host
install_as external PREFIX="$run/external" MBEDTLS_DIR="$mb" \
  MBEDTLS_INC="$top/.deps/mbedtls-3.6.6/include" MBEDTLS_LIB="$mb/lib/libmbedcrypto_all.a"
if ! members=$(ar t "$run/external/lib/libspo.a" 2>&1) || ! grep -qx 'client\.o' <<<"$members"; then
  bad external.archive "no libspo.a with spo's objects: ${members:0:100}"
elif grep -q '^ssl_tls\.' <<<"$members"; then
  bad external.archive "libspo.a holds mbedTLS although MBEDTLS_DIR was given"
else
  ok "external.archive: libspo.a without mbedTLS, spo.pc links $mb"
fi
check external "$run/external"

# DESTDIR: the same files as a direct install into the same prefix, and spo.pc names the prefix
install_as staged PREFIX="$run/bundled" DESTDIR="$run/staged"
(cd "$run/bundled" && find . -type f | sort) >"$run/files-direct"
(cd "$run/staged$run/bundled" 2>/dev/null && find . -type f | sort) >"$run/files-staged"
if cmp -s "$run/files-direct" "$run/files-staged" && [ "$(wc -l <"$run/files-direct")" -gt 10 ] &&
   cmp -s "$run/bundled/lib/pkgconfig/spo.pc" "$run/staged$run/bundled/lib/pkgconfig/spo.pc"; then
  ok "staged: DESTDIR lays out the same $(wc -l <"$run/files-direct") files, spo.pc unchanged"
else
  bad staged "$(diff "$run/files-direct" "$run/files-staged" | head -3 | tr '\n' ' ')"
fi
echo "install: $pass passed, $fail failed"
[ $fail = 0 ]

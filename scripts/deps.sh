#!/usr/bin/env bash
# Installs everything spo needs on a Debian 12 machine and builds mbedTLS 3.6 from Debian trixie's
# source package with spo's own configuration. Idempotent and cached: a second run downloads nothing.
#   scripts/deps.sh            apt packages + host mbedTLS
#   scripts/deps.sh BOARD      the same, plus BOARD's toolchain and mbedTLS (runs `make BOARD=.. deps`)
#   SPO_DEPS_EXTRA="pkg ..."   extra apt packages (bench, lint, fuzz)
# `make deps` passes the board's settings from boards/BOARD/board.mk as SPO_BOARD_* variables, so
# mbedTLS is compiled with exactly the flags spo is (a different _TIME_BITS or ABI corrupts silently).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -gt 0 ] && [ -z "${SPO_BOARD:-}" ]; then exec make -C "$top" --no-print-directory BOARD="$1" deps; fi
board=${SPO_BOARD:-linux-host}
deps="$top/.deps"
MBEDTLS_VERSION=3.6.6
MBEDTLS_DEB_VERSION=3.6.6-0.1~deb13u1
MBEDTLS_SHA256=8fb65fae8dcae5840f793c0a334860a411f884cc537ea290ce1c52bb64ca007a
MIRROR=${SPO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$deps"
# One run at a time: two builds of the same mbedTLS into one folder trample each other.
exec 9>"$deps/.lock"
flock 9

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pkgs="build-essential cmake clang libclang-rt-14-dev libcmocka-dev libjsmn-dev openssl python3
      valgrind cppcheck dpkg-dev debian-archive-keyring bzip2 ca-certificates tinyproxy curl
      pkg-config groff-base
      ${SPO_DEPS_EXTRA:-}
      ${SPO_BOARD_APT:-}"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "deps: installing$missing"
  as_root apt-get update -q >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

# --- mbedTLS 3.6 source, fetched once through a private apt configuration (system sources untouched)
src="$deps/mbedtls-$MBEDTLS_VERSION"
if [ ! -f "$src/include/mbedtls/version.h" ]; then
  apt="$deps/apt"; mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/dl"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main" > "$apt/sources.list"
  : > "$apt/status"
  aptopts=(-o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=- \
           -o Dir::State::Lists="$apt/lists" -o Dir::State::Status="$apt/status" \
           -o Dir::Cache="$apt/cache" -o APT::Sandbox::User=root -q)
  tarball=$(ls "$apt"/dl/mbedtls_${MBEDTLS_VERSION}.orig.tar.* 2>/dev/null | head -1 || true)
  if [ -z "$tarball" ]; then
    echo "deps: fetching mbedTLS $MBEDTLS_DEB_VERSION source from Debian trixie"
    apt-get "${aptopts[@]}" update >/dev/null
    (cd "$apt/dl" && apt-get "${aptopts[@]}" source --download-only "mbedtls=$MBEDTLS_DEB_VERSION" >/dev/null)
    tarball=$(ls "$apt"/dl/mbedtls_${MBEDTLS_VERSION}.orig.tar.* | head -1)
  fi
  echo "$MBEDTLS_SHA256  $tarball" | sha256sum -c --quiet -
  rm -rf "$src.tmp" && mkdir -p "$src.tmp"
  tar -xf "$tarball" -C "$src.tmp" --strip-components=1
  rm -rf "$src" && mv "$src.tmp" "$src"
fi

# --- build it with spo's configuration, once per (board, config) pair
build_mbedtls() { # name cc extra_cflags [config header in config/, default mbedtls_config.h]
  local name=$1 cc=$2 cflags=$3 cfgname=${4:-mbedtls_config.h}
  local cfg="$top/config/$cfgname"
  local out="$deps/mbedtls-build/$name"
  local stamp="$out/.stamp"
  local want
  # "cfg-angle": the config used to be named in quotes, which silently built the default config.
  want=$(cat "$cfg" | sha256sum | cut -c1-16)-$(echo "$cc $cflags cfg-angle" | sha256sum | cut -c1-16)
  # A board's config includes the main one: both count.
  [ "$cfgname" = mbedtls_config.h ] || want=$want-$(cat "$top/config/mbedtls_config.h" | sha256sum | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  echo "deps: building mbedTLS $MBEDTLS_VERSION for $name"
  rm -rf "$out" && mkdir -p "$out/lib"
  local objdir="$out/obj"; mkdir -p "$objdir"
  # The library's own sources only; no programs, no tests. One compiler call per file, in parallel.
  ls "$src"/library/*.c | xargs -P "$(nproc)" -I{} sh -c \
    "$cc $cflags -I'$src/include' -I'$src/library' -I'$top/config' \
      -DMBEDTLS_CONFIG_FILE='<$cfgname>' -c {} -o '$objdir'/\$(basename {} .c).o"
  local ar=${AR:-ar}
  case $cc in *-gcc) ar=${cc%gcc}ar ;; esac  # the host's ar cannot index another architecture
  "$ar" rcs "$out/lib/libmbedcrypto_all.a" "$objdir"/*.o
  echo "$want" > "$stamp"
}
# A cross board's CC (exported by make) must not leak into the host build.
host_cc=cc; if [ "$board" = linux-host ]; then host_cc=${CC:-cc}; fi
build_mbedtls host "$host_cc" "-Os -g -fPIC -ffunction-sections -fdata-sections"
build_mbedtls host-asan "clang" "-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer"

# jsmn is one architecture-independent header; a copy of its own keeps cross builds from searching
# /usr/include (where Debian 12's mbedTLS 2.28 headers may also be) for it.
mkdir -p "$deps/include"
cmp -s /usr/include/jsmn.h "$deps/include/jsmn.h" || cp /usr/include/jsmn.h "$deps/include/jsmn.h"

# --- a foreign-architecture board's libraries (cmocka for the unit tests), unpacked into a sysroot.
# Through a private apt configuration: `dpkg --add-architecture` would change the system, and its
# `apt-get update` fails on mirrors that lack the architecture.
fetch_foreign_debs() { # arch pkg...
  local arch=$1; shift
  local root="$deps/sysroot-$arch" want="$*"
  if [ -f "$root/.stamp" ] && [ "$(cat "$root/.stamp")" = "$want" ]; then return 0; fi
  local codename; codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  local apt="$deps/apt-$arch"; mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/dl"
  echo "deb [arch=$arch signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $codename main" \
    > "$apt/sources.list"
  : > "$apt/status"
  local aptopts=(-o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=- \
    -o Dir::State::Lists="$apt/lists" -o Dir::State::Status="$apt/status" -o Dir::Cache="$apt/cache" \
    -o APT::Sandbox::User=root -o APT::Architectures::="$arch" -q)
  echo "deps: fetching $* for $arch"
  apt-get "${aptopts[@]}" update >/dev/null
  rm -f "$apt"/dl/*.deb
  local p pkgs=()
  for p in "$@"; do pkgs+=("$p:$arch"); done
  (cd "$apt/dl" && apt-get "${aptopts[@]}" download "${pkgs[@]}" >/dev/null)
  rm -rf "$root" && mkdir -p "$root"
  for p in "$apt"/dl/*.deb; do dpkg -x "$p" "$root"; done
  echo "$want" > "$root/.stamp"
}

if [ "$board" != linux-host ]; then
  if [ -n "${SPO_BOARD_DEB_ARCH:-}" ] && [ -n "${SPO_BOARD_DEB_LIBS:-}" ]; then
    # shellcheck disable=SC2086
    fetch_foreign_debs "$SPO_BOARD_DEB_ARCH" $SPO_BOARD_DEB_LIBS
  fi
  build_mbedtls "$SPO_BOARD_MBEDTLS" "$SPO_BOARD_CC" "$SPO_BOARD_CFLAGS" \
    "${SPO_BOARD_MBEDTLS_CONFIG:-mbedtls_config.h}"
fi
echo "deps: ok (mbedTLS $MBEDTLS_VERSION in $src)"

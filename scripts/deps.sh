#!/usr/bin/env bash
# Installs everything spo needs on a Debian 12 machine and builds mbedTLS 3.6 from Debian trixie's
# source package with spo's own configuration. Idempotent and cached: a second run downloads nothing.
#   scripts/deps.sh            apt packages + host mbedTLS
#   SPO_DEPS_EXTRA="pkg ..."   extra apt packages (bench, lint, fuzz)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
deps="$top/.deps"
MBEDTLS_VERSION=3.6.6
MBEDTLS_DEB_VERSION=3.6.6-0.1~deb13u1
MBEDTLS_SHA256=8fb65fae8dcae5840f793c0a334860a411f884cc537ea290ce1c52bb64ca007a
MIRROR=${SPO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$deps"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pkgs="build-essential cmake clang libclang-rt-14-dev libcmocka-dev libjsmn-dev openssl python3
      valgrind cppcheck dpkg-dev debian-archive-keyring bzip2 ca-certificates ${SPO_DEPS_EXTRA:-}"
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
build_mbedtls() { # name cc extra_cflags
  local name=$1 cc=$2 cflags=$3
  local cfg="$top/config/mbedtls_config.h"
  local out="$deps/mbedtls-build/$name"
  local stamp="$out/.stamp"
  local want
  want=$(cat "$cfg" | sha256sum | cut -c1-16)-$(echo "$cc $cflags" | sha256sum | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  echo "deps: building mbedTLS $MBEDTLS_VERSION for $name"
  rm -rf "$out" && mkdir -p "$out/lib"
  local objdir="$out/obj"; mkdir -p "$objdir"
  # The library's own sources only; no programs, no tests. One compiler call per file, in parallel.
  ls "$src"/library/*.c | xargs -P "$(nproc)" -I{} sh -c \
    "$cc $cflags -I'$src/include' -I'$src/library' -I'$top/config' \
      -DMBEDTLS_CONFIG_FILE='\"mbedtls_config.h\"' -c {} -o '$objdir'/\$(basename {} .c).o"
  ${AR:-ar} rcs "$out/lib/libmbedcrypto_all.a" "$objdir"/*.o
  echo "$want" > "$stamp"
}
build_mbedtls host "${CC:-cc}" "-Os -g -fPIC -ffunction-sections -fdata-sections"
build_mbedtls host-asan "clang" "-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer"
echo "deps: ok (mbedTLS $MBEDTLS_VERSION in $src)"

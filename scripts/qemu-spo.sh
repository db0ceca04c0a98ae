#!/usr/bin/env bash
# qemu-spo.sh BINARY [ARGS...]: run a Linux ARM binary (armhf or arm64) on this machine with
# qemu-user and the cross C library of its architecture, keeping its arguments, standard streams and
# exit status. The emulator, the e2e runner and the unit tests then treat it as a native program.
set -euo pipefail
bin=${1:?usage: qemu-spo.sh BINARY [ARGS...]}
shift
# ELF e_machine, little-endian 16 bits at offset 18: 0x28 is 32-bit ARM, 0xb7 AArch64.
machine=$(od -An -tx1 -j18 -N2 "$bin" | tr -d ' \n')
case $machine in
  2800) exec qemu-arm -L /usr/arm-linux-gnueabihf "$bin" "$@" ;;
  b700) exec qemu-aarch64 -L /usr/aarch64-linux-gnu "$bin" "$@" ;;
  *) echo "qemu-spo.sh: $bin is not an armhf or arm64 ELF (e_machine $machine)" >&2; exit 126 ;;
esac

#!/usr/bin/env bash
# make size: flash and RAM of spo, per module, beside mbedTLS's and libc's, on the cortex-m4 board
# (-Os, newlib-nano, --gc-sections), for two images: the sample firmware, which lists sites (what is
# linked when an application calls spo_client_init/sites), and the same with every public function
# of libspo kept. Figures are what the linker kept, read from the map files. Prints markdown.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
B=build/cortex-m4
mkdir -p build
make -s --no-print-directory BOARD=cortex-m4 firmware firmware-full >"$B.size.log" 2>&1 ||
  { cat "$B.size.log"; echo "size: the cortex-m4 firmware did not build"; exit 1; }
gcc_version=$(arm-none-eabi-gcc -dumpversion)
cat <<HEAD
## spo on a Cortex-M4 (arm-none-eabi-gcc $gcc_version, -Os, newlib-nano, --gc-sections)

Board: boards/cortex-m4 (256 KiB flash, 96 KiB RAM). "sites-only" is $B/spo-firmware.elf; "full"
is $B/spo-firmware-full.elf, which also keeps every public function of libspo.
The RAM of spo is mostly the mbedTLS pool (tls_pool, SPO_TLS_POOL_SIZE) and the spo_client.

HEAD
python3 scripts/mapsize.py sites-only=$B/spo-firmware.map full=$B/spo-firmware-full.map
echo
echo '```'
arm-none-eabi-size $B/spo-firmware.elf $B/spo-firmware-full.elf
echo '```'

# rpi-armhf: Raspberry Pi 2 and later on a 32-bit Debian or Raspberry Pi OS (ARMv7, hard float),
# built with Debian's cross compiler; binaries and tests run on the build machine under qemu-user.
# 64-bit time_t and file offsets: Debian 13's armhf ABI, and certificates past 2038.
CROSS_COMPILE ?= arm-linux-gnueabihf-
BOARD_CC := $(CROSS_COMPILE)gcc
BOARD_CFLAGS := -Os -g -ffunction-sections -fdata-sections -D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64
BOARD_LDFLAGS := -Wl,--gc-sections
BOARD_PORT := posix
BOARD_MBEDTLS := rpi-armhf
# What scripts/deps.sh installs, and the target's libraries it unpacks into .deps/sysroot-armhf.
BOARD_APT := gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user
BOARD_DEB_ARCH := armhf
BOARD_DEB_LIBS := libcmocka0 libcmocka-dev
BOARD_TRIPLET := arm-linux-gnueabihf
BOARD_RUN := qemu-arm -L /usr/arm-linux-gnueabihf

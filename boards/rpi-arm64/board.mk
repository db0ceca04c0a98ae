# rpi-arm64: Raspberry Pi 3, 4, 5 on a 64-bit Debian or Raspberry Pi OS (AArch64), built with
# Debian's cross compiler; binaries and tests run on the build machine under qemu-user.
CROSS_COMPILE ?= aarch64-linux-gnu-
BOARD_CC := $(CROSS_COMPILE)gcc
BOARD_CFLAGS := -Os -g -ffunction-sections -fdata-sections -D_FILE_OFFSET_BITS=64
BOARD_LDFLAGS := -Wl,--gc-sections
BOARD_PORT := posix
BOARD_MBEDTLS := rpi-arm64
BOARD_APT := gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
BOARD_DEB_ARCH := arm64
BOARD_DEB_LIBS := libcmocka0 libcmocka-dev
BOARD_TRIPLET := aarch64-linux-gnu
BOARD_RUN := qemu-aarch64 -L /usr/aarch64-linux-gnu

# linux-host: the default board, the machine you build on.
BOARD_CC ?= cc
BOARD_CFLAGS := -Os -g -ffunction-sections -fdata-sections -D_FILE_OFFSET_BITS=64
BOARD_LDFLAGS := -Wl,--gc-sections
BOARD_PORT := posix
BOARD_MBEDTLS := host

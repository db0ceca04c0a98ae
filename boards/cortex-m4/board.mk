# cortex-m4: a generic Cortex-M4 part (256 KiB flash, 96 KiB RAM, e.g. STM32F401CC), bare metal,
# newlib-nano, no heap. Soft float: spo has no floating point, and it also runs on M4s without FPU.
# The network, entropy and clocks come from the application (port/board, spo/port_board.h).
CROSS_COMPILE ?= arm-none-eabi-
BOARD_CC := $(CROSS_COMPILE)gcc
BOARD_ARCH := -mcpu=cortex-m4 -mthumb -mfloat-abi=soft
BOARD_CFLAGS := $(BOARD_ARCH) -Os -g -ffunction-sections -fdata-sections --specs=nano.specs
BOARD_LDFLAGS := $(BOARD_ARCH) --specs=nano.specs -nostartfiles -Wl,--gc-sections
BOARD_PORT := board
BOARD_MBEDTLS := cortex-m4
BOARD_MBEDTLS_CONFIG := mbedtls_config_baremetal.h
BOARD_APT := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
# `make BOARD=cortex-m4` builds the firmware; test and check link it, check the maps for a heap and
# undefined symbols, and boot it in qemu (boards/cortex-m4/rules.mk).
BOARD_ALL := firmware
BOARD_CHECK := firmware-check firmware-qemu
BOARD_TEST_DEPS := firmware-check firmware-qemu
BOARD_TEST_CMD := true

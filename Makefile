# spo — build, test, demo. `make help` lists the targets.
BOARD ?= linux-host
include boards/$(BOARD)/board.mk

CC := $(if $(filter default,$(origin CC)),$(BOARD_CC),$(CC))
V ?= 0
Q := $(if $(filter 1,$(V)),,@)

MBEDTLS_VERSION := 3.6.6
MBEDTLS_SRC := .deps/mbedtls-$(MBEDTLS_VERSION)
MBEDTLS_DIR ?= .deps/mbedtls-build/$(BOARD_MBEDTLS)
MBEDTLS_LIB := $(MBEDTLS_DIR)/lib/libmbedcrypto_all.a

B := build/$(BOARD)
BA := build/$(BOARD)-asan

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
CPPFLAGS_SPO := -Iinclude -Iconfig -I$(MBEDTLS_SRC)/include -DMBEDTLS_CONFIG_FILE='"mbedtls_config.h"'
CFLAGS_SPO := -std=c11 -D_DEFAULT_SOURCE $(WARN) $(CPPFLAGS_SPO)
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

LIB_SRC := $(wildcard src/*.c) $(wildcard port/$(BOARD_PORT)/*.c)
LIB_SRC := $(filter-out src/cli%.c,$(LIB_SRC))
CLI_SRC := $(wildcard src/cli*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_HELPERS := $(wildcard tests/unit/fake_*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
LIB_OBJ_ASAN := $(LIB_SRC:%.c=$(BA)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
UNIT_BIN_ASAN := $(UNIT_SRC:tests/unit/%.c=$(BA)/tests/%)

.PHONY: all deps lib cli unit unit-asan test demo memreport bench clean help
all: cli

help:
	@echo "make demo       install deps, build, run spo token + spo sites against the bundled emulator"
	@echo "make test       install deps, build, run every test (also under ASan/UBSan); ends 'N passed, N failed'"
	@echo "make cli        build build/spo;  make V=1 shows commands;  BOARD=<boards/NAME>"
	@echo "make memreport  static state, mbedTLS pool peak, stack high-water mark for 100 and 20,000 sites"
	@echo "make bench      JSON layer and spo sites throughput beside jsmn, Python+msal and curl"

deps: .deps/.stamp-$(BOARD)
.deps/.stamp-$(BOARD): scripts/deps.sh config/mbedtls_config.h
	$(Q)bash scripts/deps.sh
	$(Q)touch $@

$(B)/%.o: %.c $(wildcard include/spo/*.h) config/mbedtls_config.h | deps
	@mkdir -p $(dir $@)
	@$(if $(filter 1,$(V)),,echo "  CC $<")
	$(Q)$(CC) $(BOARD_CFLAGS) $(CFLAGS_SPO) $(CFLAGS) -c $< -o $@

$(BA)/%.o: %.c $(wildcard include/spo/*.h) config/mbedtls_config.h | deps
	@mkdir -p $(dir $@)
	@$(if $(filter 1,$(V)),,echo "  CC(asan) $<")
	$(Q)clang $(ASAN_FLAGS) $(CFLAGS_SPO) -c $< -o $@

$(B)/libspo.a: $(LIB_OBJ)
	$(Q)rm -f $@ && $(AR) rcs $@ $^
$(BA)/libspo.a: $(LIB_OBJ_ASAN)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

lib: $(B)/libspo.a

$(B)/spo: $(CLI_SRC:%.c=$(B)/%.o) $(B)/libspo.a
	$(Q)$(CC) $(BOARD_LDFLAGS) $(LDFLAGS) -o $@ $^ $(MBEDTLS_LIB)
$(BA)/spo: $(CLI_SRC:%.c=$(BA)/%.o) $(BA)/libspo.a
	$(Q)clang $(ASAN_FLAGS) -o $@ $^ .deps/mbedtls-build/host-asan/lib/libmbedcrypto_all.a
build/spo: $(B)/spo
	$(Q)cp $< $@

cli: build/spo

# Unit tests: tests/unit/test_NAME.c (+ shared fakes tests/unit/fake_*.c) linked with cmocka.
$(B)/tests/%: tests/unit/%.c $(UNIT_HELPERS:%.c=$(B)/%.o) $(B)/libspo.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) -g $(CFLAGS_SPO) -Wno-missing-prototypes -o $@ $^ $(MBEDTLS_LIB) -lcmocka
$(BA)/tests/%: tests/unit/%.c $(UNIT_HELPERS:%.c=$(BA)/%.o) $(BA)/libspo.a
	@mkdir -p $(dir $@)
	$(Q)clang $(ASAN_FLAGS) $(CFLAGS_SPO) -Wno-missing-prototypes -o $@ $^ .deps/mbedtls-build/host-asan/lib/libmbedcrypto_all.a -lcmocka

unit: $(UNIT_BIN)
unit-asan: $(UNIT_BIN_ASAN)

test: deps
	$(Q)bash scripts/test.sh

demo: deps cli
	$(Q)bash scripts/demo.sh

memreport: deps
	$(Q)bash scripts/memreport.sh

bench: deps
	$(Q)bash scripts/bench.sh

clean:
	rm -rf build

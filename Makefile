# spo — build, test, demo. `make help` lists the targets.
BOARD ?= linux-host
include boards/$(BOARD)/board.mk
CROSS_COMPILE ?=
BOARD_MBEDTLS_CONFIG ?= mbedtls_config.h
BOARD_ALL ?= cli
BOARD_TEST_CMD ?= SPO_BOARD=$(BOARD) SPO_RUN='$(BOARD_RUN)' bash scripts/test.sh
BOARD_CHECK ?= test

CC := $(if $(filter default,$(origin CC)),$(BOARD_CC),$(CC))
AR := $(if $(filter default,$(origin AR)),$(CROSS_COMPILE)ar,$(AR))
V ?= 0
comma := ,
Q := $(if $(filter 1,$(V)),,@)

MBEDTLS_VERSION := 3.6.6
MBEDTLS_SRC := .deps/mbedtls-$(MBEDTLS_VERSION)
ifeq ($(origin MBEDTLS_DIR),undefined)
MBEDTLS_BUNDLED := 1
MBEDTLS_DIR := .deps/mbedtls-build/$(BOARD_MBEDTLS)
MBEDTLS_INC := $(MBEDTLS_SRC)/include
MBEDTLS_LIB := $(MBEDTLS_DIR)/lib/libmbedcrypto_all.a
else
# An mbedTLS 3.6 of your own (install prefix or CMake build tree). It must be built with spo's
# config/$(BOARD_MBEDTLS_CONFIG): a different configuration links fine and corrupts memory.
MBEDTLS_INC ?= $(MBEDTLS_DIR)/include
MBEDTLS_LIB ?= $(foreach l,mbedtls mbedx509 mbedcrypto,$(firstword \
    $(wildcard $(MBEDTLS_DIR)/lib/lib$(l).a $(MBEDTLS_DIR)/library/lib$(l).a) $(MBEDTLS_DIR)/lib/lib$(l).a))
endif

B := build/$(BOARD)
BA := build/$(BOARD)-asan

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
# <...>, not "...": a quoted name is looked up first beside mbedtls/build_info.h, which finds
# mbedTLS's own default mbedtls_config.h instead of config/.
# mbedTLS 3.6 before anything a cross compiler finds in /usr/include (Debian 12's 2.28 headers);
# .deps/include holds jsmn.h for the same reason.
CPPFLAGS_SPO := -Iinclude -Iconfig -I$(MBEDTLS_INC) -I.deps/include \
    -DMBEDTLS_CONFIG_FILE='<$(BOARD_MBEDTLS_CONFIG)>'
# The build's date (SPO_BUILD_TIME, spo/tls.h: a wall clock before it is unset): SOURCE_DATE_EPOCH
# when set (reproducible builds), else the last commit's time, so that the same commit always builds
# the same binary; outside git, the header's default. Evaluated once per make run.
SPO_BUILD_TIME := $(or $(SOURCE_DATE_EPOCH),$(shell git log -1 --format=%ct 2>/dev/null))
CPPFLAGS_SPO += $(if $(SPO_BUILD_TIME),-DSPO_BUILD_TIME=$(SPO_BUILD_TIME)LL)
CFLAGS_SPO := -std=c11 -D_DEFAULT_SOURCE $(WARN) $(CPPFLAGS_SPO)
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

LIB_SRC := $(wildcard src/*.c) $(wildcard port/$(BOARD_PORT)/*.c)
# cli.c and cli_*.c, not cli%.c: that pattern also takes client.c out of the library.
LIB_SRC := $(filter-out src/cli.c src/cli_%.c,$(LIB_SRC))
CLI_SRC := $(wildcard src/cli.c src/cli_*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_HELPERS := $(wildcard tests/unit/fake_*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
LIB_OBJ_ASAN := $(LIB_SRC:%.c=$(BA)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
UNIT_BIN_ASAN := $(UNIT_SRC:tests/unit/%.c=$(BA)/tests/%)

.PHONY: all deps lib cli unit unit-asan test check demo memreport bench clean help install size \
    port-lwip
all: $(BOARD_ALL)

help:
	@echo "make demo       install deps, build, run spo token + spo sites against the bundled emulator"
	@echo "make test       install deps, build, run every test (also under ASan/UBSan); ends 'N passed, N failed'"
	@echo "make cli        build build/spo;  make V=1 shows commands;  BOARD=<boards/NAME>"
	@echo "make memreport  static state, mbedTLS pool peak, stack high-water mark for 100 and 20,000 sites"
	@echo "make bench      JSON layer and spo sites throughput beside jsmn, Python+msal and curl"
	@echo "make BOARD=rpi-armhf test   cross-build, unit and end-to-end tests under qemu (also rpi-arm64)"
	@echo "make BOARD=cortex-m4 check  firmware image + map, and the check that no heap is linked"
	@echo "make size       flash and RAM of spo and mbedTLS per module on a Cortex-M4 (-Os)"
	@echo "make port-lwip  build and link the lwIP socket port against Debian's liblwip"
	@echo "make install    PREFIX=/usr/local DESTDIR=  library, headers, spo, spo.1, spo.pc"

deps: .deps/.stamp-$(BOARD)
# The board's compiler and flags go to deps.sh so that mbedTLS is built exactly as spo is.
.deps/.stamp-$(BOARD): scripts/deps.sh $(wildcard config/mbedtls_config*.h) boards/$(BOARD)/board.mk
	$(Q)SPO_BOARD=$(BOARD) SPO_BOARD_CC='$(CC)' SPO_BOARD_CFLAGS='$(BOARD_CFLAGS)' \
	  SPO_BOARD_MBEDTLS=$(BOARD_MBEDTLS) SPO_BOARD_MBEDTLS_CONFIG=$(BOARD_MBEDTLS_CONFIG) \
	  SPO_BOARD_APT='$(BOARD_APT)' SPO_BOARD_DEB_ARCH=$(BOARD_DEB_ARCH) \
	  SPO_BOARD_DEB_LIBS='$(BOARD_DEB_LIBS)' bash scripts/deps.sh
	$(Q)touch $@

$(B)/%.o: %.c $(wildcard include/spo/*.h src/*.h port/*/*.h) $(wildcard config/mbedtls_config*.h) | deps
	@mkdir -p $(dir $@)
	@$(if $(filter 1,$(V)),,echo "  CC $<")
	$(Q)$(CC) $(BOARD_CFLAGS) $(CFLAGS_SPO) $(CFLAGS) -c $< -o $@

$(BA)/%.o: %.c $(wildcard include/spo/*.h src/*.h port/*/*.h) config/mbedtls_config.h | deps
	@mkdir -p $(dir $@)
	@$(if $(filter 1,$(V)),,echo "  CC(asan) $<")
	$(Q)clang $(ASAN_FLAGS) $(CFLAGS_SPO) -c $< -o $@

$(B)/libspo.a: $(LIB_OBJ)
	$(Q)rm -f $@ && $(AR) rcs $@ $^
$(BA)/libspo.a: $(LIB_OBJ_ASAN)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

lib: $(B)/libspo.a

$(B)/spo: $(CLI_SRC:%.c=$(B)/%.o) $(B)/libspo.a
	$(Q)$(CC) $(BOARD_LDFLAGS) $(LDFLAGS) -o $@ $^ $(MBEDTLS_LIB) $(B)/libspo.a
$(BA)/spo: $(CLI_SRC:%.c=$(BA)/%.o) $(BA)/libspo.a
	$(Q)clang $(ASAN_FLAGS) -o $@ $^ .deps/mbedtls-build/host-asan/lib/libmbedcrypto_all.a $(BA)/libspo.a
build/spo: $(B)/spo
	$(Q)cp $< $@

# build/spo is the machine's own CLI; a cross board's stays in build/BOARD/ with a qemu launcher.
cli: $(if $(filter linux-host,$(BOARD)),build/spo,$(B)/spo $(if $(BOARD_RUN),$(B)/spo-qemu))
$(B)/spo-qemu: scripts/qemu-spo.sh
	@mkdir -p $(dir $@)
	$(Q)printf '#!/bin/sh\nexec "%s" "%s" "$$@"\n' "$(abspath scripts/qemu-spo.sh)" "$(abspath $(B)/spo)" > $@
	$(Q)chmod +x $@

# Unit tests: tests/unit/test_NAME.c (+ shared fakes tests/unit/fake_*.c) linked with cmocka.
# libspo.a comes again after mbedTLS: mbedTLS's allocator is spo's pool (config/mbedtls_config.h).
# A cross board takes cmocka from the target's Debian packages in .deps/sysroot-ARCH.
UNIT_SYSROOT := $(if $(BOARD_DEB_ARCH),$(abspath .deps/sysroot-$(BOARD_DEB_ARCH)))
UNIT_FLAGS := $(if $(UNIT_SYSROOT),-I$(UNIT_SYSROOT)/usr/include)
UNIT_LIBDIR := $(if $(UNIT_SYSROOT),$(UNIT_SYSROOT)/usr/lib/$(BOARD_TRIPLET))
UNIT_LIBS := $(if $(UNIT_LIBDIR),-L$(UNIT_LIBDIR) -Wl$(comma)-rpath$(comma)$(UNIT_LIBDIR)) -lcmocka
$(B)/tests/%: tests/unit/%.c $(UNIT_HELPERS:%.c=$(B)/%.o) $(B)/libspo.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) -g $(BOARD_CFLAGS) $(CFLAGS_SPO) $(UNIT_FLAGS) $(CFLAGS) -Wno-missing-prototypes \
	  -o $@ $^ $(MBEDTLS_LIB) $(B)/libspo.a $(LDFLAGS) $(UNIT_LIBS)
$(BA)/tests/%: tests/unit/%.c $(UNIT_HELPERS:%.c=$(BA)/%.o) $(BA)/libspo.a
	@mkdir -p $(dir $@)
	$(Q)clang $(ASAN_FLAGS) $(CFLAGS_SPO) -Wno-missing-prototypes -o $@ $^ .deps/mbedtls-build/host-asan/lib/libmbedcrypto_all.a $(BA)/libspo.a -lcmocka

unit: $(UNIT_BIN)
unit-asan: $(UNIT_BIN_ASAN)

test: deps $(BOARD_TEST_DEPS)
	$(Q)$(BOARD_TEST_CMD)
check: $(BOARD_CHECK)

demo: deps cli
	$(Q)bash scripts/demo.sh

# A cross board measures its own binary under its BOARD_RUN (qemu-user), against the host's emulator.
memreport: deps
	$(Q)$(if $(filter linux-host,$(BOARD)),,$(MAKE) -s BOARD=$(BOARD) cli &&) \
	  SPO_BOARD=$(BOARD) SPO_BIN=$(B)/spo SPO_WRAP='$(BOARD_RUN)' bash scripts/memreport.sh

bench: deps
	$(Q)bash scripts/bench.sh

clean:
	rm -rf build

include mk/install.mk mk/extras.mk
include mk/lint.mk
-include boards/$(BOARD)/rules.mk

# ---------------------------------------------------------------- fuzzing (tests/fuzz/)
# make fuzz [FUZZ_TIME=60] [FUZZ_TARGETS="json url"] [FUZZ_MERGE=0]
#   builds each libFuzzer target tests/fuzz/fuzz_NAME.c (clang -fsanitize=fuzzer,address,undefined;
#   the library sources get the same sanitizers and fuzzer-no-link, i.e. the coverage instrumentation
#   without a second main) and runs it FUZZ_TIME seconds on tests/fuzz/corpus/NAME. New inputs go to
#   build/fuzz/findings/NAME; afterwards only those adding coverage are merged into the corpus
#   (-merge=1; FUZZ_MERGE=0 skips that). Crashes land in build/fuzz/artifacts/NAME/, logs in
#   build/fuzz/logs/. Prints executions per target.
# make fuzz-replay
#   runs every corpus file through every harness built with ASan/UBSan but without libFuzzer
#   (tests/fuzz/replay_main.c, the library's $(BA) objects); ends "fuzz-replay: N passed, M failed".
# tests/fuzz/seed.sh regenerates the seed files of the corpora from ../shared.
# The harnesses drive auth and graph through fake transports: TLS and the port are not linked.
FUZZ_TIME ?= 60
FUZZ_MERGE ?= 1
FUZZ_TARGETS ?= $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
BF := build/fuzz
FUZZ_CFLAGS := -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
	$(CFLAGS_SPO)
# tls_pool.c stays: the mbedTLS build routes its calloc/free there (auth.c links its zeroize);
# tls_platform.c too: the certificate sign-in (auth.c) links mbedTLS entropy and X.509, which call
# its mbedtls_hardware_poll and mbedtls_platform_gmtime_r.
FUZZ_LIB_SRC := $(filter-out src/tls.c src/tls_trust.c src/client.c port/%,$(LIB_SRC))
FUZZ_MBEDTLS := .deps/mbedtls-build/host-asan/lib/libmbedcrypto_all.a
FUZZ_DEPS := $(wildcard tests/fuzz/*.h) $(wildcard include/spo/*.h)
# A group: mbedTLS calls back into spo (its calloc is spo_tls_pool_calloc), after spo was scanned.
fuzz_libs = -Wl,--start-group $(1) $(FUZZ_MBEDTLS) -Wl,--end-group

.PHONY: fuzz fuzz-build fuzz-replay
$(BF)/obj/%.o: %.c $(wildcard include/spo/*.h) config/mbedtls_config.h | deps
	@mkdir -p $(dir $@)
	@$(if $(filter 1,$(V)),,echo "  CC(fuzz) $<")
	$(Q)clang -fsanitize=fuzzer-no-link $(FUZZ_CFLAGS) -c $< -o $@
$(BF)/libspo.a: $(FUZZ_LIB_SRC:%.c=$(BF)/obj/%.o)
	$(Q)rm -f $@ && $(AR) rcs $@ $^
$(BF)/libspo-replay.a: $(FUZZ_LIB_SRC:%.c=$(BA)/%.o)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^
$(BF)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DEPS) $(BF)/libspo.a
	@$(if $(filter 1,$(V)),,echo "  LD(fuzz) $@")
	$(Q)clang -fsanitize=fuzzer $(FUZZ_CFLAGS) -o $@ $< $(call fuzz_libs,$(BF)/libspo.a)
$(BF)/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c $(FUZZ_DEPS) $(BF)/libspo-replay.a
	@$(if $(filter 1,$(V)),,echo "  LD(replay) $@")
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $< tests/fuzz/replay_main.c $(call fuzz_libs,$(BF)/libspo-replay.a)

fuzz-build: $(FUZZ_TARGETS:%=$(BF)/fuzz_%)
fuzz: deps fuzz-build
	$(Q)bash tests/fuzz/run.sh fuzz $(FUZZ_TIME) $(FUZZ_MERGE) $(FUZZ_TARGETS)
fuzz-replay: deps $(FUZZ_TARGETS:%=$(BF)/replay_%)
	$(Q)bash tests/fuzz/run.sh replay $(FUZZ_TARGETS)

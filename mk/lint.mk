# ---------------------------------------------------------------- static analysis (make lint)
# make lint [-j]   cppcheck (Debian 12: 2.10) and clang-tidy 14 over src/ and port/posix/, with the
#                  compiler's include paths and -D flags; any finding fails the target.
# clang-tidy's check set, and why each excluded check is excluded, is in .clang-tidy. cppcheck runs
# --enable=warning,style,performance,portability with --library=posix (port/posix is POSIX code, and
# the library tells cppcheck which arguments read() and friends write). It is not given mbedTLS's
# include folder: mbedtls/check_config.h stops at `#error` when CHAR_BIT is unknown, and cppcheck does
# not read <limits.h>, so every file including mbedTLS would go unchecked; mbedTLS's headers are then
# system headers to it (missingIncludeSystem). clang-tidy compiles for real and gets every path.
# A finding that is wrong is suppressed where it is, with a one-line reason:
#   /* cppcheck-suppress ID ; why */ on the line before, or // NOLINT(check): why
# clang-tidy results are kept per file in build/lint/ and redone when the file, a header of
# include/spo/ or .clang-tidy changes.
LINT_SRC := $(wildcard src/*.c port/posix/*.c)
LINT_B := build/lint
CLANG_TIDY ?= clang-tidy-14
CPPCHECK ?= cppcheck
LINT_CFLAGS := -std=c11 -D_DEFAULT_SOURCE $(CPPFLAGS_SPO)
CPPCHECK_FLAGS := --enable=warning,style,performance,portability --error-exitcode=1 --inline-suppr \
    --std=c11 --library=posix --suppress=missingIncludeSystem --suppress='*:.deps/*' -q \
    --template='{file}:{line}: {severity}: {id}: {message}' \
    -D_DEFAULT_SOURCE -DMBEDTLS_CONFIG_FILE='<$(BOARD_MBEDTLS_CONFIG)>' -Iinclude -Iconfig -I.deps/include

.PHONY: lint lint-cppcheck lint-tools
lint: lint-cppcheck $(LINT_SRC:%.c=$(LINT_B)/%.tidy)
	@echo "lint: cppcheck and clang-tidy found nothing in $(words $(LINT_SRC)) files"

lint-tools:
	$(Q)command -v $(CPPCHECK) >/dev/null && command -v $(CLANG_TIDY) >/dev/null || \
	  SPO_DEPS_EXTRA="cppcheck clang-tidy" bash scripts/deps.sh

lint-cppcheck: lint-tools | deps
	@$(if $(filter 1,$(V)),,echo "  CPPCHECK src port/posix")
	$(Q)$(CPPCHECK) $(CPPCHECK_FLAGS) $(LINT_SRC)

$(LINT_B)/%.tidy: %.c .clang-tidy $(wildcard include/spo/*.h src/*.h) | lint-tools deps
	@mkdir -p $(dir $@)
	@$(if $(filter 1,$(V)),,echo "  TIDY $<")
	$(Q)$(CLANG_TIDY) --quiet $< -- $(LINT_CFLAGS) >$@.log 2>&1 || { grep -v ' warnings\? generated\.$$' $@.log; exit 1; }
	$(Q)touch $@

# make install PREFIX=/usr/local DESTDIR=: libspo.a, the headers, spo and spo.1 (boards with a CLI),
# and spo.pc. spo's headers include jsmn's and mbedTLS's, so these go along under include/spo/deps.
# mbedTLS, built with spo's configuration, goes inside libspo.a: the two refer to each other
# (mbedTLS allocates from spo's pool), which one archive resolves without link-order tricks. Its
# headers see the same configuration: there, mbedtls/mbedtls_config.h is spo's, so programs need no
# MBEDTLS_CONFIG_FILE. Build programs with the library's SPO_* size macros (the defaults unless you
# changed them): they shape the structs. With MBEDTLS_DIR=your own mbedTLS (built with spo's
# configuration), spo.pc points at it and forces spo's configuration on its headers (-include).
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
INSTALL_CLI := $(filter cli,$(BOARD_ALL))
SPO_VERSION_STR = $(shell sed -n 's/^\#define SPO_VERSION "\(.*\)"/\1/p' include/spo/spo.h)

install: lib $(if $(INSTALL_CLI),$(B)/spo)
	$(Q)d=$(DESTDIR)$(INCLUDEDIR)/spo; install -d $(DESTDIR)$(LIBDIR)/pkgconfig $$d/deps && \
	  install -m 644 include/spo/*.h $$d/ && install -m 644 .deps/include/jsmn.h $$d/deps/
	$(Q)rm -f $(B)/libspo-install.a && \
	  printf 'CREATE $(B)/libspo-install.a\nADDLIB $(B)/libspo.a\n%bSAVE\nEND\n' \
	    '$(if $(MBEDTLS_BUNDLED),ADDLIB $(MBEDTLS_LIB)\n)' | $(AR) -M && \
	  install -m 644 $(B)/libspo-install.a $(DESTDIR)$(LIBDIR)/libspo.a
ifneq ($(INSTALL_CLI),)
	$(Q)install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	$(Q)install -m 755 $(B)/spo $(DESTDIR)$(BINDIR)/spo
	$(Q)install -m 644 doc/spo.1 $(DESTDIR)$(MANDIR)/man1/spo.1
endif
	$(Q)d=$(DESTDIR)$(INCLUDEDIR)/spo/deps; install -m 644 config/mbedtls_config*.h $$d/ && \
	  printf '/* spo: the mbedTLS configuration of the build. */\n#include "%s"\n' \
	    $(BOARD_MBEDTLS_CONFIG) > $$d/spo_mbedtls_config.h
ifeq ($(MBEDTLS_BUNDLED),)
	$(Q)printf '%s\n' '/* spo: forced on every file by spo.pc (-include), so that the mbedTLS headers' \
	  ' * installed elsewhere see the configuration spo and that mbedTLS were built with. */' \
	  '#define MBEDTLS_CONFIG_FILE "spo_mbedtls_config.h"' > $(DESTDIR)$(INCLUDEDIR)/spo/deps/spo_pre.h
else
	$(Q)d=$(DESTDIR)$(INCLUDEDIR)/spo/deps; install -d $$d/mbedtls $$d/psa && \
	  install -m 644 $(MBEDTLS_INC)/mbedtls/*.h $$d/mbedtls/ && \
	  install -m 644 $(MBEDTLS_INC)/psa/*.h $$d/psa/ && \
	  printf '/* spo: the configuration its mbedTLS was built with. */\n#include "../%s"\n' \
	    $(BOARD_MBEDTLS_CONFIG) > $$d/mbedtls/mbedtls_config.h
endif
	$(Q)printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	  'Name: spo' 'Description: SharePoint Online client for small devices (no heap)' \
	  'Version: $(SPO_VERSION_STR)' \
	  'Cflags: -I$${includedir} -I$${includedir}/spo/deps$(if $(MBEDTLS_BUNDLED),, -I$(abspath $(MBEDTLS_INC)) -include $${includedir}/spo/deps/spo_pre.h)' \
	  'Libs: -L$${libdir} $(if $(MBEDTLS_BUNDLED),-lspo,-Wl$(comma)--start-group -lspo $(abspath $(MBEDTLS_LIB)) -Wl$(comma)--end-group)' \
	  > $(DESTDIR)$(LIBDIR)/pkgconfig/spo.pc

# cortex-m4 firmware: build/cortex-m4/spo-firmware.elf (+ .map, .bin) from this folder's sources, the
# library and mbedTLS. spo-firmware-full.elf keeps every public function of the library, for `make size`.
FW_DIR := boards/cortex-m4
FW_OBJ := $(patsubst %.c,$(B)/%.o,$(wildcard $(FW_DIR)/*.c)) $(B)/ca_roots.o
FW_LD := $(BOARD_LDFLAGS) $(LDFLAGS) -T $(FW_DIR)/link.ld -Wl,--print-memory-usage
# The roots behind login.microsoftonline.com and graph.microsoft.com, from the build machine's bundle.
FW_ROOTS ?= DigiCert_Global_Root_G2 DigiCert_Global_Root_CA Microsoft_RSA_Root_Certificate_Authority_2017 \
    Microsoft_ECC_Root_Certificate_Authority_2017

.PHONY: firmware firmware-full firmware-check firmware-qemu
firmware: $(B)/spo-firmware.elf
firmware-full: $(B)/spo-firmware-full.elf

$(B)/ca_roots.c: $(FW_DIR)/rules.mk
	@mkdir -p $(dir $@)
	$(Q)cat $(FW_ROOTS:%=/etc/ssl/certs/%.pem) | od -An -v -tx1 | \
	  awk 'BEGIN { print "const unsigned char board_ca_pem[] = {" } \
	       { for (i = 1; i <= NF; i++) { printf "0x%s,", $$i; n++ } print "" } \
	       END { print "0x00 };\nconst unsigned int board_ca_pem_len = " n + 1 ";" }' > $@

$(B)/ca_roots.o: $(B)/ca_roots.c
	$(Q)$(CC) $(BOARD_CFLAGS) -c $< -o $@

# fw_link OUTPUT EXTRA: when the link fails for want of _sbrk (something pulled a heap in), link
# again with a dummy _sbrk only to get a map, and let the heap check say who pulled it in.
define fw_link
	@$(if $(filter 1,$(V)),,echo "  LD $(1)")
	$(Q)$(CC) $(FW_LD) -Wl,-Map=$(1:.elf=.map) -o $(1) $(FW_OBJ) $(2) $(B)/libspo.a $(MBEDTLS_LIB) || \
	  { $(CC) $(FW_LD) -Wl,--defsym=_sbrk=0 -Wl,-Map=$(1:.elf=.diag.map) -o $(1:.elf=.diag.elf) \
	      $(FW_OBJ) $(2) $(B)/libspo.a $(MBEDTLS_LIB) >/dev/null 2>&1; \
	    echo "$(1): the link failed; relinked with a dummy _sbrk into $(1:.elf=.diag.map) to see why:"; \
	    bash scripts/check-noheap.sh $(1:.elf=.diag.map); exit 1; }
endef

$(B)/spo-firmware.elf: $(FW_OBJ) $(B)/libspo.a $(FW_DIR)/link.ld
	$(call fw_link,$@,)
	$(Q)$(CROSS_COMPILE)objcopy -O binary $@ $(@:.elf=.bin)

$(B)/spo-firmware-full.elf: $(FW_OBJ) $(B)/libspo.a $(FW_DIR)/link.ld
	$(call fw_link,$@,$$($(CROSS_COMPILE)nm -g --defined-only $(B)/libspo.a | \
	  awk '$$2 == "T" { print "-Wl,-u," $$3 }'))

# The checker must also refuse a map that does allocate, or a silent checker would pass.
$(B)/noheap-probe.map: tests/board/noheap_probe.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -Os $(BOARD_LDFLAGS) -Wl,--defsym=_sbrk=0 -Wl,-e,probe -Wl,-Map=$@ \
	  -o $(@:.map=.elf) $<

firmware-check: $(B)/spo-firmware.elf $(B)/spo-firmware-full.elf $(B)/noheap-probe.map
	$(Q)! bash scripts/check-noheap.sh $(B)/noheap-probe.map >/dev/null || \
	  { echo "check-noheap: missed the malloc of tests/board/noheap_probe.c"; exit 1; }
	$(Q)bash scripts/check-noheap.sh $(B)/spo-firmware.map
	$(Q)bash scripts/check-noheap.sh $(B)/spo-firmware-full.map
	$(Q)for f in $(B)/spo-firmware.elf $(B)/spo-firmware-full.elf; do \
	  u=$$($(CROSS_COMPILE)nm $$f | awk 'NF == 2 && $$1 ~ /^[wUv]$$/ { print $$2 }'); \
	  [ -z "$$u" ] || { echo "$$f: undefined or weak-undefined symbols: $$u"; exit 1; }; done
	@echo "firmware-check: no undefined symbol in the images"

# firmware-qemu: the sample on an emulated Cortex-M4 (qemu's netduinoplus2, an STM32F405 whose
# flash and RAM hold this board's), with output and exit code through semihosting and a fixed fake
# entropy (never in a product image). It boots, runs spo_client_init and spo_client_sites until the
# connect, which the placeholder modem refuses, and prints the stack high-water mark. No network.
FW_QEMU_OBJ := $(filter-out $(B)/$(FW_DIR)/app.o,$(FW_OBJ)) $(B)/qemu/app.o
$(B)/qemu/app.o: $(FW_DIR)/app.c $(FW_DIR)/cortex_m4.h include/spo/port_board.h | deps
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BOARD_CFLAGS) $(CFLAGS_SPO) -DBOARD_SEMIHOSTING -DBOARD_QEMU_FAKE_ENTROPY -c $< -o $@
$(B)/spo-firmware-qemu.elf: $(FW_QEMU_OBJ) $(B)/libspo.a $(FW_DIR)/link.ld
	$(Q)$(CC) $(FW_LD) -Wl,-Map=$(@:.elf=.map) -o $@ $(FW_QEMU_OBJ) $(B)/libspo.a $(MBEDTLS_LIB) >/dev/null

firmware-qemu: $(B)/spo-firmware-qemu.elf
	$(Q)out=$$(timeout 120 qemu-system-arm -M netduinoplus2 -display none -monitor none -serial none \
	    -chardev stdio,id=sh0 -semihosting-config enable=on,target=native,chardev=sh0 -kernel $<); \
	  rc=$$?; echo "$$out"; \
	  echo "$$out" | grep -q '^spo: $(shell sed -n 's/.*SPO_E_NET_CONNECT: return "\(.*\)";/\1/p' src/strerror.c)' && [ $$rc = 1 ] || \
	  { echo "firmware-qemu: expected the connect refusal and exit status 1, got $$rc"; exit 1; }

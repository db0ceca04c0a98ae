# Targets around the boards: the lwIP port's build and run, and the Cortex-M4 size table.

# port/lwip against Debian's liblwip: the unix port as the GNU Hurd builds it (NO_SYS 0, sockets,
# poll, no DNS), a shared library for the build machine. The test runs the port over lwIP's own TCP
# on a loopback netif; the DNS and lwip_select variants are compiled, not run (tests/lwip/).
LWIP_B := build/lwip
LWIP_CC := $(if $(filter linux-host,$(BOARD)),$(CC),cc)
LWIP_FLAGS := -std=c11 -D_DEFAULT_SOURCE $(WARN) -Os -g -Iinclude -isystem /usr/include/lwip

.deps/.stamp-lwip: scripts/deps.sh
	$(Q)SPO_DEPS_EXTRA=liblwip-dev bash scripts/deps.sh
	$(Q)touch $@

$(LWIP_B)/port_lwip.o: port/lwip/port_lwip.c include/spo/port_lwip.h include/spo/port.h .deps/.stamp-lwip
	@mkdir -p $(dir $@)
	$(Q)$(LWIP_CC) $(LWIP_FLAGS) -c $< -o $@
$(LWIP_B)/port_lwip_dns.o: port/lwip/port_lwip.c include/spo/port_lwip.h .deps/.stamp-lwip
	$(Q)$(LWIP_CC) $(LWIP_FLAGS) -DLWIP_DNS=1 -c $< -o $@
$(LWIP_B)/port_lwip_select.o: port/lwip/port_lwip.c include/spo/port_lwip.h .deps/.stamp-lwip
	$(Q)$(LWIP_CC) $(LWIP_FLAGS) -Itests/lwip/select-opts -c $< -o $@
$(LWIP_B)/test_port_lwip: tests/lwip/test_port_lwip.c $(LWIP_B)/port_lwip.o
	$(Q)$(LWIP_CC) $(LWIP_FLAGS) -Wno-missing-prototypes -o $@ $^ -llwip -lcmocka -lpthread

port-lwip: $(LWIP_B)/test_port_lwip $(LWIP_B)/port_lwip_dns.o $(LWIP_B)/port_lwip_select.o
	$(Q)nm $(LWIP_B)/port_lwip_dns.o | grep -q 'U lwip_getaddrinfo'
	$(Q)nm $(LWIP_B)/port_lwip_select.o | grep -q 'U lwip_select'
	$(Q)timeout 120 $(LWIP_B)/test_port_lwip

size: deps
	$(Q)bash scripts/size.sh

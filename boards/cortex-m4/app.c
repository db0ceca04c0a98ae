/* The sample application's side of the board port: a 1 kHz SysTick clock, and placeholders for the
 * modem and the entropy source, which are specific to each product. As shipped, the network and the
 * entropy refuse (fail closed), so the image links and runs but never talks to anyone.
 * With -DBOARD_SEMIHOSTING (the qemu run), board_log and board_exit go to the debugger/host. */
#include "cortex_m4.h"

#include "spo/port_board.h"

static volatile uint32_t ticks;

void SysTick_Handler(void)
{
    ticks++;
}

#ifdef BOARD_SEMIHOSTING
static void paint_stack(void);
#endif

void board_init(void)
{
#ifdef BOARD_SEMIHOSTING
    paint_stack();
#endif
    SYST_RVR = BOARD_CORE_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt, enable */
}

uint32_t app_millis(void)
{
    return ticks;
}

/* Replace with the RTC, set from SNTP or the modem's network time. */
int64_t app_unix_time(void)
{
    return 0;
}

void app_sleep_ms(uint32_t ms)
{
    uint32_t start = ticks;
    while ((uint32_t)(ticks - start) < ms)
        __asm volatile("wfi");
}

/* Replace with the part's TRNG. Never substitute a counter or a seed in flash: TLS keys come
 * from these bytes. The qemu run (BOARD_QEMU_FAKE_ENTROPY) has no TRNG and no network, and only
 * needs spo to get as far as connecting: it gets a fixed pattern, which must never ship. */
int app_hw_entropy(uint8_t *buf, size_t len)
{
#ifdef BOARD_QEMU_FAKE_ENTROPY
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(i * 131u + 7u);
    return SPO_OK;
#else
    (void)buf;
    (void)len;
    return SPO_E_ENTROPY;
#endif
}

/* Replace with the modem's or the vendor stack's TCP socket calls. */
int app_net_connect(const char *host, uint16_t port, uint32_t timeout_ms, intptr_t *out)
{
    (void)host;
    (void)port;
    (void)timeout_ms;
    (void)out;
    return SPO_E_NET_CONNECT;
}

int app_net_send(intptr_t conn, const uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    (void)conn;
    (void)buf;
    (void)len;
    (void)timeout_ms;
    return SPO_E_NET_IO;
}

int app_net_recv(intptr_t conn, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    (void)conn;
    (void)buf;
    (void)len;
    (void)timeout_ms;
    return SPO_E_NET_IO;
}

void app_net_close(intptr_t conn)
{
    (void)conn;
}

#ifdef BOARD_SEMIHOSTING
/* The stack's high-water mark: board_init paints the unused stack, board_exit finds the deepest
 * word that changed. */
#define PAINT 0xC0FFEE11u
extern uint32_t _sstack[], _estack[];

static void paint_stack(void)
{
    uint32_t *sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = _sstack; p < sp - 16; p++)
        *p = PAINT;
}

static size_t stack_used(void)
{
    uint32_t *p = _sstack;
    while (p < _estack && *p == PAINT)
        p++;
    return (size_t)((uintptr_t)_estack - (uintptr_t)p);
}

static int semihost(int op, const void *arg)
{
    register int r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void board_log(const char *s)
{
    semihost(0x04, s); /* SYS_WRITE0 */
}

void board_exit(int status)
{
    char msg[] = "stack high-water mark: 00000 bytes\n";
    size_t used = stack_used();
    for (int i = 27; i >= 23; i--, used /= 10)
        msg[i] = (char)('0' + used % 10);
    board_log(msg);
    /* SYS_EXIT_EXTENDED: on 32-bit ARM only this form carries an exit code. */
    static uint32_t block[2];
    block[0] = 0x20026u; /* ADP_Stopped_ApplicationExit */
    block[1] = (uint32_t)status;
    semihost(0x20, block);
    for (;;) {
    }
}
#else
void board_log(const char *s)
{
    (void)s; /* a UART in a product */
}

void board_exit(int status)
{
    (void)status;
    for (;;)
        __asm volatile("wfi");
}
#endif

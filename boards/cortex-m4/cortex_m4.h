/* The generic Cortex-M4 board: what the startup code, the sample application and the board port's
 * hooks share. Only core (ARMv7-M) registers: nothing here is vendor specific. */
#ifndef SPO_CORTEX_M4_H
#define SPO_CORTEX_M4_H

#include <stdint.h>

#ifndef BOARD_CORE_HZ
#define BOARD_CORE_HZ 16000000u /* the internal RC oscillator most parts start on */
#endif

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

void Reset_Handler(void);
void Default_Handler(void);
void NMI_Handler(void);
void HardFault_Handler(void);
void MemManage_Handler(void);
void BusFault_Handler(void);
void UsageFault_Handler(void);
void SVC_Handler(void);
void DebugMon_Handler(void);
void PendSV_Handler(void);
void SysTick_Handler(void);

int main(void);

/* The sample application (app.c). */
void board_init(void);
void board_log(const char *s);
void board_exit(int status);

/* PEM roots for Microsoft's endpoints, generated at build time from the build machine's bundle. */
extern const unsigned char board_ca_pem[];
extern const unsigned int board_ca_pem_len;

#endif

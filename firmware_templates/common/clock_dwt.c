/* tinyml firmware: core cycles from DWT->CYCCNT (real boards, Renode). */
#include "tinyml_board.h"
#include "tinyml_clock.h"

#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

static uint32_t g_last;
static uint32_t g_high;

void tinyml_clock_init(void) {
    DEMCR |= (1u << 24);      /* TRCENA: power the DWT */
    DWT_LAR = 0xC5ACCE55u;    /* Cortex-M7 locks DWT until this key; ignored elsewhere */
    DWT_CYCCNT = 0u;
    DWT_CTRL |= 1u;           /* CYCCNTENA */
    g_last = 0u;
    g_high = 0u;
}

/* The 32-bit counter wraps after 2^32 cycles (25 s at 168 MHz); reading it
 * at least once per wrap (every inference does) extends it to 64 bits. */
uint64_t tinyml_clock_ticks(void) {
    const uint32_t now = DWT_CYCCNT;
    if (now < g_last) {
        ++g_high;
    }
    g_last = now;
    return ((uint64_t)g_high << 32) | now;
}

uint64_t tinyml_clock_to_unit(uint64_t ticks) {
    return ticks;
}

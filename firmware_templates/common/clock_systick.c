/* tinyml firmware: SysTick as a 64-bit clock at the processor clock.
 *
 * On a real board one tick is one core cycle. On QEMU with -icount shift=N
 * the virtual clock advances exactly 2^N ns per guest instruction, so ticks
 * of the SysTick (at the machine's modelled clock) convert to instructions
 * by the ratio in tinyml_board.h (see BENCHMARKS.md, "Counting on QEMU").
 */
#include "tinyml_board.h"
#include "tinyml_clock.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define SYST_RELOAD 0xFFFFFFu
#define ICSR_PENDSTSET (1u << 26)

static volatile uint32_t g_wraps;

void SysTick_Handler(void) {
    g_wraps = g_wraps + 1u;
}

void tinyml_clock_init(void) {
    SYST_CSR = 0u;
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0u;
    g_wraps = 0u;
    SYST_CSR = 7u; /* CLKSOURCE = processor clock, TICKINT, ENABLE */
    /* With CVR = 0 the first clock edge only reloads (QEMU does the same):
     * start counting once the reload has happened. */
    while (SYST_CVR == 0u) {
    }
}

uint64_t tinyml_clock_ticks(void) {
    uint32_t before;
    uint32_t after;
    uint32_t value;
    uint32_t pending;
    do {
        before = g_wraps;
        value = SYST_CVR;
        pending = SCB_ICSR & ICSR_PENDSTSET;
        after = g_wraps;
    } while (before != after);
    /* Reloaded, but the handler has not run yet: count that wrap here. */
    if (pending != 0u && value > (SYST_RELOAD >> 1)) {
        ++before;
    }
    return ((uint64_t)before << 24) + (uint64_t)(SYST_RELOAD - value);
}

uint64_t tinyml_clock_to_unit(uint64_t ticks) {
#if defined(TINYML_TICKS_TO_UNIT_NUM) && defined(TINYML_TICKS_TO_UNIT_DEN)
    /* Rounded to the nearest unit: each reading is a floor, so the
     * difference of two is within one tick of the truth. */
    return (ticks * TINYML_TICKS_TO_UNIT_NUM + TINYML_TICKS_TO_UNIT_DEN / 2u) / TINYML_TICKS_TO_UNIT_DEN;
#else
    return ticks;
#endif
}

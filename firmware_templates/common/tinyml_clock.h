/* tinyml firmware: the clock that times each inference.
 *
 * Implementations: clock_dwt.c (DWT->CYCCNT, core cycles), clock_systick.c
 * (SysTick at the core clock: cycles on a real board; on QEMU with -icount
 * the virtual clock advances a fixed time per instruction, so SysTick ticks
 * convert exactly to guest instructions). tinyml_board.h names the unit.
 */
#ifndef TINYML_CLOCK_H
#define TINYML_CLOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void tinyml_clock_init(void);
/* Raw counter ticks since tinyml_clock_init, monotonic, 64-bit. */
uint64_t tinyml_clock_ticks(void);
/* Ticks to TINYML_CLOCK_UNIT (cycles or instructions). */
uint64_t tinyml_clock_to_unit(uint64_t ticks);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_CLOCK_H */

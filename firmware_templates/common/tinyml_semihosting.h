/* tinyml firmware: ARM semihosting calls (BKPT 0xAB on M-profile).
 *
 * Only for emulators and debug sessions: on a board without a debugger
 * attached, BKPT escalates to a HardFault.
 */
#ifndef TINYML_SEMIHOSTING_H
#define TINYML_SEMIHOSTING_H

#include <stdint.h>

#define TINYML_SYS_WRITE0 0x04u
#define TINYML_SYS_EXIT 0x18u
/* SYS_EXIT reasons: QEMU exits with status 0 for ApplicationExit, 1 otherwise. */
#define TINYML_ADP_APPLICATION_EXIT 0x20026u
#define TINYML_ADP_RUNTIME_ERROR 0x20023u

static inline uint32_t tinyml_semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

#endif /* TINYML_SEMIHOSTING_H */

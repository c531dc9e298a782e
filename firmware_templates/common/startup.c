/* tinyml firmware: Cortex-M startup: vector table, reset handler, fault handlers.
 *
 * Core features are taken from the compiler's own predefined macros (the
 * -mcpu/-mfpu/-mfloat-abi flags of the core decide them), so the same file
 * serves every Cortex-M from M0 to M55.
 */
#include <stdint.h>

#include "tinyml_board.h"
#include "tinyml_console.h"

/* Symbols of the linker script (linker.ld). */
extern uint32_t __data_load__;
extern uint32_t __data_start__;
extern uint32_t __data_end__;
extern uint32_t __bss_start__;
extern uint32_t __bss_end__;
extern uint32_t __stack_limit__;
extern uint32_t __stack_top__;

int main(void);
void Reset_Handler(void);
void NMI_Handler(void);
void HardFault_Handler(void);
void Default_Handler(void);
void tinyml_hardfault_report(const uint32_t *frame);
/* The clock counter installs its own SysTick handler when it needs one. */
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_8M_MAIN__) || \
    defined(__ARM_ARCH_8_1M_MAIN__)
#define TINYML_MAINLINE 1 /* has CFSR/HFSR fault status registers */
#else
#define TINYML_MAINLINE 0
#endif

/* Painted over the stack at reset; the first word that differs marks the
 * deepest the stack ever reached (reported as END stack=<bytes>). */
#define TINYML_STACK_PAINT 0xA5A5A5A5u

typedef void (*tinyml_vector_t)(void);

/* 16 system exceptions and 32 interrupts. The firmware enables no
 * interrupt, so every IRQ entry reports itself as unexpected. */
__attribute__((section(".isr_vector"), used)) const tinyml_vector_t tinyml_vectors[48] = {
    (tinyml_vector_t)(uintptr_t)&__stack_top__,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    Default_Handler, /* MemManage: escalates to HardFault when not enabled */
    Default_Handler, /* BusFault */
    Default_Handler, /* UsageFault */
    Default_Handler, /* SecureFault (v8-M) */
    0, 0, 0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler,
};

/* No memcpy/memset calls may be synthesised here: they would run on the
 * stack being painted, and before .data exists. */
__attribute__((optimize("no-tree-loop-distribute-patterns"), noreturn)) void Reset_Handler(void) {
    uint32_t *dst;
    const uint32_t *src;
    uint32_t *sp;
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* CP10/CP11 full access before any floating-point (or MVE) instruction. */
    SCB_CPACR |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
    /* A stack overflow becomes a UsageFault (reported as a hardfault)
     * instead of silently overwriting the heap and .bss. */
    __asm__ volatile("msr msplim, %0" : : "r"(&__stack_limit__));
#endif
#if TINYML_MAINLINE || defined(__ARM_ARCH_8M_BASE__)
    /* A bootloader may have moved the vector table. */
    SCB_VTOR = (uint32_t)(uintptr_t)tinyml_vectors;
#endif
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (dst = &__stack_limit__; dst < sp - 16; ++dst) {
        *dst = TINYML_STACK_PAINT;
    }
    for (src = &__data_load__, dst = &__data_start__; dst < &__data_end__;) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start__; dst < &__bss_end__;) {
        *dst++ = 0u;
    }
    tinyml_board_init();
    tinyml_exit(main());
}

uint32_t tinyml_stack_used_bytes(void) {
    const uint32_t *p = &__stack_limit__;
    while (p < &__stack_top__ && *p == TINYML_STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)&__stack_top__ - (uintptr_t)p);
}

uint32_t tinyml_stack_size_bytes(void) {
    return (uint32_t)((uintptr_t)&__stack_top__ - (uintptr_t)&__stack_limit__);
}

/* Finds the stacked exception frame (MSP or PSP, from EXC_RETURN bit 2) and
 * hands it to the C reporter. Thumb-1 only, so it also runs on v6-M. */
__attribute__((naked)) void HardFault_Handler(void) {
    __asm__ volatile(
#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
        /* A stack overflow (MSPLIM) fault must not fault again while reporting:
         * the report runs below the limit, in what the heap and .bss left. */
        "movs r0, #0\n\t"
        "msr msplim, r0\n\t"
#endif
        "movs r0, #4\n\t"
        "mov r1, lr\n\t"
        "tst r0, r1\n\t"
        "beq 1f\n\t"
        "mrs r0, psp\n\t"
        "b tinyml_hardfault_report\n"
        "1:\n\t"
        "mrs r0, msp\n\t"
        "b tinyml_hardfault_report\n");
}

__attribute__((used, noreturn)) void tinyml_hardfault_report(const uint32_t *frame) {
    /* The leading newline ends a harness line the fault may have cut short. */
    tinyml_print_flush();
    tinyml_print("\nTINYML FAIL hardfault pc=");
    tinyml_print_hex32(frame[6]);
    tinyml_print(" lr=");
    tinyml_print_hex32(frame[5]);
    tinyml_print(" xpsr=");
    tinyml_print_hex32(frame[7]);
#if TINYML_MAINLINE
    tinyml_print(" cfsr=");
    tinyml_print_hex32(SCB_CFSR);
    tinyml_print(" hfsr=");
    tinyml_print_hex32(SCB_HFSR);
#endif
    tinyml_print("\n");
    tinyml_exit(1);
}

void NMI_Handler(void) {
    tinyml_print_flush();
    tinyml_print("\nTINYML FAIL unexpected exception 2 (NMI)\n");
    tinyml_exit(1);
}

void Default_Handler(void) {
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    tinyml_print_flush();
    tinyml_print("\nTINYML FAIL unexpected exception ");
    tinyml_print_u32(ipsr & 0x1FFu);
    tinyml_print("\n");
    tinyml_exit(1);
}

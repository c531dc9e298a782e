/* tinyml AOT self-test for QEMU mps2 boards: see README.md. */
#include <stdint.h>
#include <string.h>

#include "model.h"
#include "selftest_data.h" /* written by the test: SELFTEST_SAMPLES, selftest_inputs */
#include "selftest_hooks.h"

extern uint32_t __bss_start__;
extern uint32_t __bss_end__;
extern uint32_t __stack_top__;

int main(void);
void tinyml_selftest_reset(void);
void tinyml_selftest_fault(void);
void tinyml_selftest_systick(void);

typedef void (*tinyml_vector)(void);

__attribute__((section(".vectors"), used)) const tinyml_vector tinyml_selftest_vectors[16] = {
    (tinyml_vector)(uintptr_t)&__stack_top__,
    tinyml_selftest_reset,
    tinyml_selftest_fault, /* NMI */
    tinyml_selftest_fault, /* HardFault */
    tinyml_selftest_fault, tinyml_selftest_fault, tinyml_selftest_fault, 0, 0, 0, 0,
    tinyml_selftest_fault, /* SVC */
    tinyml_selftest_fault, 0,
    tinyml_selftest_fault, /* PendSV */
    tinyml_selftest_systick,
};

/* ARM semihosting: SYS_WRITE0 (0x04) and SYS_EXIT (0x18). */
static int32_t semihost(int32_t op, const void *arg) {
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void write0(const char *s) {
    (void)semihost(0x04, s);
}

static void finish(int ok) {
    /* ADP_Stopped_ApplicationExit (0x20026) exits QEMU with status 0. */
    (void)semihost(0x18, (const void *)(uintptr_t)(ok ? 0x20026 : 0x20024));
    for (;;) {
    }
}

void tinyml_selftest_fault(void) {
    write0("FAULT\n");
    finish(0);
}

/* SysTick at the processor clock, counting wraps of its 24-bit counter. */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
static volatile uint32_t g_wraps;

void tinyml_selftest_systick(void) {
    ++g_wraps;
}

static uint64_t ticks(void);
static uint64_t g_layer_ticks[TINYML_OPERATOR_COUNT];
static uint64_t g_last;

void tinyml_selftest_layer(int32_t op_index) {
    const uint64_t now = ticks();
    g_layer_ticks[op_index] = now - g_last;
    g_last = now;
}

static uint64_t ticks(void) {
    uint32_t w1, w2, cvr;
    do {
        w1 = g_wraps;
        cvr = SYST_CVR;
        w2 = g_wraps;
    } while (w1 != w2);
    return (uint64_t)w1 * 0x1000000u + (0xFFFFFFu - cvr);
}

void tinyml_selftest_reset(void) {
    uint32_t *p;
    for (p = &__bss_start__; p < &__bss_end__; ++p) {
        *p = 0;
    }
#if defined(__ARM_FP)
    /* Enable CP10/CP11 (the FPU) before any float instruction. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n isb" ::: "memory");
#endif
    finish(main() == 0);
}

static char *put_u64(char *out, uint64_t v) {
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (n > 0) {
        *out++ = tmp[--n];
    }
    return out;
}

int main(void) {
    static int8_t output[TINYML_OUTPUT_SIZE];
    static char line[64 + 2 * TINYML_OUTPUT_SIZE];
    static const char hex[] = "0123456789abcdef";
    int32_t i, k;
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0u;
    SYST_CSR = 0x7u; /* processor clock, interrupt, enable */
    while (SYST_CVR == 0u) {
        /* the first clock only reloads the counter */
    }
    for (i = 0; i < SELFTEST_SAMPLES; ++i) {
        uint64_t t0, t1;
        char *o = line;
        t0 = ticks();
        g_last = t0;
        if (tinyml_invoke(selftest_inputs[i], output) != 0) {
            write0("INVOKE FAILED\n");
            return 1;
        }
        t1 = ticks();
        memcpy(o, "SAMPLE ", 7);
        o = put_u64(o + 7, (uint64_t)i);
        *o++ = ' ';
        o = put_u64(o, t1 - t0);
        *o++ = ' ';
        for (k = 0; k < TINYML_OUTPUT_SIZE; ++k) {
            const uint8_t b = (uint8_t)output[k];
            *o++ = hex[b >> 4];
            *o++ = hex[b & 15u];
        }
        *o++ = '\n';
        *o = '\0';
        write0(line);
        if (i == 0) {
            /* Ticks per operator of the first input (the hook itself costs a few). */
            for (k = 0; k < TINYML_OPERATOR_COUNT; ++k) {
                o = line;
                memcpy(o, "LAYER ", 6);
                o = put_u64(o + 6, (uint64_t)k);
                *o++ = ' ';
                o = put_u64(o, g_layer_ticks[k]);
                *o++ = '\n';
                *o = '\0';
                write0(line);
            }
        }
    }
    write0("DONE\n");
    return 0;
}

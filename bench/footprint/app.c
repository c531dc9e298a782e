/* tinyml footprint probe: the smallest complete application around the AOT runtime.
 *
 * What a deployed firmware needs besides the model and the kernels: a vector table, a reset
 * handler (.data copy, .bss clear, FPU enable), a console (semihosting here), a tick counter
 * (SysTick with a wrap count) and the protocol lines of the harness (decimal and hex
 * formatting, no printf). bench/measure_footprint.py links it to measure the "application"
 * figure of firmware_templates/aot/footprint.yaml; the input/output buffers live in io.c
 * because their size belongs to the model, not to the application.
 *
 * It runs on QEMU mps2 machines (semihosting) so a measurement also proves the image works:
 * the input is byte i = (i*37+11) & 0xFF, as in ../shared/BENCHMARKS.md.
 */
#include <stdint.h>
#include <string.h>

#include "model.h"

extern int8_t tinyml_io_input[];
extern int8_t tinyml_io_output[];

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__, __stack_top__;

int main(void);
void probe_reset(void);
void probe_fault(void);
void probe_systick(void);

typedef void (*probe_vector)(void);

__attribute__((section(".vectors"), used)) const probe_vector probe_vectors[16] = {
    (probe_vector)(uintptr_t)&__stack_top__,
    probe_reset,
    probe_fault, /* NMI */
    probe_fault, /* HardFault */
    probe_fault, probe_fault, probe_fault, 0, 0, 0, 0,
    probe_fault, /* SVC */
    probe_fault, 0,
    probe_fault, /* PendSV */
    probe_systick,
};

static int32_t semihost(int32_t op, const void *arg) {
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* One line at a time: semihosting calls are slow and a line buffer is what a UART driver keeps too. */
static char line[96];
static uint32_t line_len;

static void flush(void) {
    line[line_len] = '\0';
    (void)semihost(0x04, line);
    line_len = 0;
}

static void put(char c) {
    line[line_len++] = c;
    if (c == '\n' || line_len == sizeof line - 1) {
        flush();
    }
}

static void puts_(const char *s) {
    while (*s) {
        put(*s++);
    }
}

static void put_u64(uint64_t v) {
    char digits[21];
    int n = 0;
    do {
        digits[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (n > 0) {
        put(digits[--n]);
    }
}

static void put_hex8(uint8_t v) {
    static const char hex[] = "0123456789abcdef";
    put(hex[v >> 4]);
    put(hex[v & 15u]);
}

static void finish(int ok) {
    (void)semihost(0x18, (const void *)(uintptr_t)(ok ? 0x20026 : 0x20024));
    for (;;) {
    }
}

void probe_fault(void) {
    puts_("TINYML FAIL fault\n");
    finish(0);
}

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
static volatile uint32_t wraps;

void probe_systick(void) {
    ++wraps;
}

static uint64_t ticks(void) {
    uint32_t w1, w2, cvr;
    do {
        w1 = wraps;
        cvr = SYST_CVR;
        w2 = wraps;
    } while (w1 != w2);
    return (uint64_t)w1 * 0x1000000u + (0xFFFFFFu - cvr);
}

void probe_reset(void) {
    const uint32_t *src = &__data_load__;
    uint32_t *dst;
    for (dst = &__data_start__; dst < &__data_end__; ++dst) {
        *dst = *src++;
    }
    for (dst = &__bss_start__; dst < &__bss_end__; ++dst) {
        *dst = 0;
    }
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: CP10/CP11 full access */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    finish(main() == 0);
}

int main(void) {
    uint32_t i;
    uint64_t start, elapsed;
    int status;

    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0u;
    SYST_CSR = 7u; /* processor clock, interrupt, enable */
    while (SYST_CVR == 0u) {
    }
    for (i = 0; i < TINYML_INPUT_SIZE; ++i) {
        tinyml_io_input[i] = (int8_t)(uint8_t)((i * 37u + 11u) & 0xFFu);
    }
    puts_("TINYML BEGIN run=00000000 runtime=aot board=footprint clock=instructions samples=1\n");
    start = ticks();
    status = tinyml_invoke(tinyml_io_input, tinyml_io_output);
    elapsed = ticks() - start;
    if (status != 0) {
        puts_("TINYML FAIL invoke\n");
        return 1;
    }
    puts_("TINYML SAMPLE 0 ticks=");
    put_u64(elapsed);
    puts_(" out=");
    for (i = 0; i < TINYML_OUTPUT_SIZE; ++i) {
        put_hex8((uint8_t)tinyml_io_output[i]);
    }
    puts_("\nTINYML END arena=");
    put_u64(TINYML_ARENA_BYTES);
    puts_(" status=ok\n");
    return 0;
}

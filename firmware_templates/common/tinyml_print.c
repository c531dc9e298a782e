/* tinyml firmware: line-buffered number and hex printing for the harness lines. */
#include "tinyml_console.h"

/* Long enough for any fixed part of a harness line; longer output (the hex
 * of a big output tensor) is sent in pieces, which the host joins again. */
#define TINYML_LINE_BYTES 128u

static char g_line[TINYML_LINE_BYTES];
static uint32_t g_used;

void tinyml_print_flush(void) {
    if (g_used > 0u) {
        tinyml_console_write(g_line, g_used);
        g_used = 0u;
    }
}

static void put_char(char c) {
    g_line[g_used++] = c;
    if (c == '\n' || g_used == TINYML_LINE_BYTES) {
        tinyml_print_flush();
    }
}

void tinyml_print(const char *text) {
    while (*text != '\0') {
        put_char(*text++);
    }
}

void tinyml_print_u64(uint64_t value) {
    char digits[20];
    uint32_t n = 0u;
    do {
        digits[n++] = (char)('0' + (int)(value % 10u));
        value /= 10u;
    } while (value != 0u);
    while (n > 0u) {
        put_char(digits[--n]);
    }
}

void tinyml_print_u32(uint32_t value) {
    /* A 32-bit path keeps 64-bit division out of the fault handler. */
    char digits[10];
    uint32_t n = 0u;
    do {
        digits[n++] = (char)('0' + (int)(value % 10u));
        value /= 10u;
    } while (value != 0u);
    while (n > 0u) {
        put_char(digits[--n]);
    }
}

static const char g_hex[] = "0123456789abcdef";

void tinyml_print_hex32(uint32_t value) {
    int shift;
    tinyml_print("0x");
    for (shift = 28; shift >= 0; shift -= 4) {
        put_char(g_hex[(value >> (uint32_t)shift) & 0xFu]);
    }
}

void tinyml_print_hex_bytes(const int8_t *data, uint32_t len) {
    uint32_t i;
    for (i = 0u; i < len; ++i) {
        const uint8_t b = (uint8_t)data[i];
        put_char(g_hex[b >> 4]);
        put_char(g_hex[b & 0xFu]);
    }
}

/* tinyml firmware: console on ARM semihosting (SYS_WRITE0; QEMU prints it on stderr). */
#include "tinyml_console.h"
#include "tinyml_semihosting.h"

void tinyml_console_init(void) {}

void tinyml_console_write(const char *data, uint32_t len) {
    /* SYS_WRITE0 takes a NUL-terminated string: one call per buffered line
     * instead of one trap per character. */
    char chunk[129];
    while (len > 0u) {
        uint32_t n = len < 128u ? len : 128u;
        uint32_t i;
        for (i = 0u; i < n; ++i) {
            chunk[i] = data[i];
        }
        chunk[n] = '\0';
        (void)tinyml_semihost(TINYML_SYS_WRITE0, chunk);
        data += n;
        len -= n;
    }
}

void tinyml_console_flush(void) {}

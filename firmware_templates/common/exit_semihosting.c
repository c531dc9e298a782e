/* tinyml firmware: end the run with semihosting SYS_EXIT (emulators). */
#include "tinyml_console.h"
#include "tinyml_semihosting.h"

void tinyml_exit(int status) {
    tinyml_print_flush();
    tinyml_console_flush();
    /* On AArch32 the reason code goes in r1 directly, not through a block. */
    (void)tinyml_semihost(TINYML_SYS_EXIT,
                          (const void *)(status == 0 ? TINYML_ADP_APPLICATION_EXIT : TINYML_ADP_RUNTIME_ERROR));
    for (;;) {
    }
}

/* tinyml firmware: end the run on a real board: flush the console, then idle.
 * (The host stops reading after TINYML END or TINYML FAIL.) */
#include "tinyml_console.h"

void tinyml_exit(int status) {
    (void)status;
    tinyml_print_flush();
    tinyml_console_flush();
    for (;;) {
        __asm__ volatile("wfi");
    }
}

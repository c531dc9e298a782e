/* Stands in for a generated model.c in the footprint probes: tinyml_invoke does nothing.
 *
 * Linked alone with app.c it gives the application baseline; linked with the kernel library
 * and `-Wl,-u,<kernel>` (which makes the kernel a root of --gc-sections) it gives the linked
 * size of exactly that kernel and what it calls.
 */
#include <stdint.h>

#include "model.h"

int tinyml_invoke(const int8_t *input, int8_t *output) {
    (void)input;
    (void)output;
    return 0;
}

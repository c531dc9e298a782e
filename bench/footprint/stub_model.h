/* model.h for the kernel and baseline probes: a one-byte input and output, no arena. */
#ifndef TINYML_MODEL_H
#define TINYML_MODEL_H

#include <stdint.h>

#define TINYML_INPUT_SIZE 1
#define TINYML_OUTPUT_SIZE 1
#define TINYML_ARENA_BYTES 0

int tinyml_invoke(const int8_t *input, int8_t *output);

#endif /* TINYML_MODEL_H */

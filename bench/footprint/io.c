/* The caller's input and output buffers of tinyml_invoke (the AOT arena does not hold them). */
#include <stdint.h>

#include "model.h"

int8_t tinyml_io_input[TINYML_INPUT_SIZE] __attribute__((aligned(16)));
int8_t tinyml_io_output[TINYML_OUTPUT_SIZE] __attribute__((aligned(16)));

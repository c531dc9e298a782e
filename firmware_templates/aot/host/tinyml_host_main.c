/* tinyml AOT host runner, used by `tinyml verify`.
 *
 *   runner INPUTS.bin OUTPUTS.bin [LAYERS.bin]
 *
 * INPUTS.bin holds N inputs of TINYML_INPUT_SIZE bytes back to back; the
 * runner writes N outputs of TINYML_OUTPUT_SIZE bytes. With LAYERS.bin (and
 * TINYML_DEBUG_TENSORS), it also writes every operator's output, in operator
 * order, for every input.
 */
#include <stdio.h>
#include <stdlib.h>

#include "model.h"
#include "tinyml_host_hooks.h"

static const int8_t *g_input;
static int8_t *g_output;
static FILE *g_layers;
static int g_failed;

void tinyml_host_layer_hook(int32_t op_index, const char *opcode) {
    (void)opcode;
#ifdef TINYML_DEBUG_TENSORS
    if (g_layers != NULL) {
        int32_t size = 0;
        const int8_t *data = tinyml_debug_op_output(op_index, g_input, g_output, &size);
        if (data == NULL || fwrite(data, 1, (size_t)size, g_layers) != (size_t)size) {
            g_failed = 1;
        }
    }
#else
    (void)op_index;
#endif
}

int main(int argc, char **argv) {
    FILE *in;
    FILE *out;
    long total;
    long count;
    long i;
    static int8_t input[TINYML_INPUT_SIZE];
    static int8_t output[TINYML_OUTPUT_SIZE];
    if (argc < 3) {
        fprintf(stderr, "usage: %s INPUTS.bin OUTPUTS.bin [LAYERS.bin]\n", argv[0]);
        return 2;
    }
    in = fopen(argv[1], "rb");
    if (in == NULL || fseek(in, 0, SEEK_END) != 0 || (total = ftell(in)) < 0 || fseek(in, 0, SEEK_SET) != 0) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    if (total % TINYML_INPUT_SIZE != 0) {
        fprintf(stderr, "%s: %ld bytes is not a multiple of the input size %d\n", argv[1], total,
                TINYML_INPUT_SIZE);
        return 2;
    }
    count = total / TINYML_INPUT_SIZE;
    out = fopen(argv[2], "wb");
    if (out == NULL) {
        fprintf(stderr, "cannot write %s\n", argv[2]);
        return 2;
    }
    if (argc > 3) {
        g_layers = fopen(argv[3], "wb");
        if (g_layers == NULL) {
            fprintf(stderr, "cannot write %s\n", argv[3]);
            return 2;
        }
    }
    g_input = input;
    g_output = output;
    for (i = 0; i < count; ++i) {
        if (fread(input, 1, TINYML_INPUT_SIZE, in) != TINYML_INPUT_SIZE) {
            fprintf(stderr, "short read in %s\n", argv[1]);
            return 2;
        }
        if (tinyml_invoke(input, output) != 0) {
            fprintf(stderr, "tinyml_invoke failed on input %ld\n", i);
            return 1;
        }
        if (fwrite(output, 1, TINYML_OUTPUT_SIZE, out) != TINYML_OUTPUT_SIZE) {
            fprintf(stderr, "cannot write %s\n", argv[2]);
            return 2;
        }
    }
    fclose(in);
    if (fclose(out) != 0 || (g_layers != NULL && fclose(g_layers) != 0) || g_failed) {
        fprintf(stderr, "writing the results failed\n");
        return 2;
    }
    return 0;
}

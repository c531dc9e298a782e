/* tinyml AOT self-test: per-operator tick stamps through TINYML_LAYER_HOOK. */
#ifndef TINYML_SELFTEST_HOOKS_H
#define TINYML_SELFTEST_HOOKS_H

#include <stdint.h>

void tinyml_selftest_layer(int32_t op_index);

#define TINYML_LAYER_HOOK(i, name) tinyml_selftest_layer(i)

#endif /* TINYML_SELFTEST_HOOKS_H */

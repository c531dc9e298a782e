/* tinyml AOT host runner: per-operator hook (compiled into model.c by verify). */
#ifndef TINYML_HOST_HOOKS_H
#define TINYML_HOST_HOOKS_H

#include <stdint.h>

void tinyml_host_layer_hook(int32_t op_index, const char *opcode);

#define TINYML_LAYER_HOOK(i, name) tinyml_host_layer_hook((i), (name))

#endif /* TINYML_HOST_HOOKS_H */

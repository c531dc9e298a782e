"""The aot runtime: C code generated ahead of time from an int8 .tflite.

`generate()` writes model.c / model.h (weights as const arrays, a statically
planned arena, one kernel call per operator) and copies the int8 kernel
library; `tinyml_invoke(input, output)` then runs the model with no
interpreter, no allocation and no flatbuffer parsing on the device. For the
same int8 input its output equals the tflite-micro interpreter's bit for bit.
"""

from __future__ import annotations

from .codegen import check_supported, generate, plan_arena
from .ops import SUPPORTED_OPERATORS
from .planner import ArenaPlan
from .project import AotProject, TensorInfo

__all__ = ["AotProject", "ArenaPlan", "SUPPORTED_OPERATORS", "TensorInfo", "check_supported",
           "generate", "plan_arena"]

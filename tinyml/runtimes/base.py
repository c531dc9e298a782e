"""What a runtime hands the firmware stage: ModelSources.

The lowest module of the runtimes: firmware.py and every runtime import it, it
imports neither, so no runtime needs to import the firmware stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ModelSources:
    """What a runtime contributes to the project (paths relative to the project)."""

    sources: list[str]
    include_dirs: list[str]
    defines: list[str]
    header: str                     # the header main.c includes (tinyml_invoke and sizes)
    model_sources: list[str]        # sources whose objects count as "model" in size.json
    runtime_sources: list[str]      # ... as "runtime" (kernel library)
    arena_bytes: int
    weights_bytes: int
    input_bytes: int
    output_bytes: int
    operators: list[str]
    link_libraries: list[str] = field(default_factory=list)


# What each runtime's harness firmware exchanges with the host: tinyml check refuses the same.
HARNESS_DTYPES = {"aot": ("int8",), "tflm": ("int8", "int16")}


def harness_io_problem(model, runtime: str = "tflm") -> str | None:
    """Why tinyml's harness firmware for `runtime` cannot run this model, or
    None. aot: one int8 input tensor and one int8 output tensor; tflm: any
    number of int8 or int16 input and output tensors (int8 and int16x8 models).
    `tinyml check` refuses the same models (check.py)."""
    if runtime == "tflm":
        for role, tensors in (("input", model.input_tensors), ("output", model.output_tensors)):
            if not tensors:
                return f"the model has no {role} tensor"
            for t in tensors:
                if t.dtype not in HARNESS_DTYPES["tflm"]:
                    return (f"the {role} tensor {t.name!r} is {t.dtype}; the tflm firmware exchanges int8 "
                            "and int16 tensors (int8 or int16x8 models: run `tinyml quantize`)")
        return None
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return (f"the firmware harness runs single-input, single-output models; this one has "
                f"{len(model.inputs)} inputs and {len(model.outputs)} outputs")
    for role, t in (("input", model.input_tensors[0]), ("output", model.output_tensors[0])):
        if t.dtype != "int8":
            return (f"the {role} tensor {t.name!r} is {t.dtype}; the firmware needs a full-integer "
                    "int8 model (run `tinyml quantize`)")
    return None

"""Render the generated model.c / model.h of the AOT runtime.

Python decides everything (operator parameters, arena offsets, constant
arrays); the Jinja templates in firmware_templates/aot/ only lay them out.
The kernel library is copied next to the generated files so that the project
builds with nothing but a C compiler.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...artifacts import atomic_write_bytes, atomic_write_text
from ...errors import ModelError
from ...resources import data_dir
from ...tflite_model import TFLiteModel, load_model
from . import ops as opsmod
from . import planner
from .project import AotProject, TensorInfo

KERNEL_FILES = ("tinyml_kernels.h", "tinyml_kernels.c")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_supported(model: TFLiteModel) -> None:
    """Raise UnsupportedOperatorError for the first operator the aot runtime cannot run."""
    opsmod.check_model(model)


def _plan_request(model: TFLiteModel, lowered: list[opsmod.Lowered]) -> planner.PlanRequest:
    sizes: dict[int, int] = {}
    producers: dict[int, int] = {}
    consumers: dict[int, list[int]] = {}
    for t in (*model.inputs, *model.outputs):
        sizes[t] = model.tensor(t).nbytes
    for low in lowered:
        for t in low.inputs:
            if model.tensor(t).data is None:
                sizes[t] = model.tensor(t).nbytes
                consumers.setdefault(t, []).append(low.op_index)
        for t in low.outputs:
            sizes[t] = model.tensor(t).nbytes
            producers[t] = low.op_index
    for t in model.inputs:
        producers[t] = -1
    aliases = []
    for low in lowered:
        if low.view_of is not None:
            aliases.append((low.op_index, low.view_of, low.outputs[0], False))
        elif low.in_place_of is not None and model.tensor(low.in_place_of).data is None:
            aliases.append((low.op_index, low.in_place_of, low.outputs[0], True))
    scratch = {low.op_index: low.scratch_bytes for low in lowered if low.scratch_bytes}
    scratch_in_place = {low.op_index: low.in_place_scratch_bytes for low in lowered
                        if low.in_place_scratch_bytes is not None}
    return planner.PlanRequest(op_count=len(lowered), tensor_sizes=sizes, producers=producers,
                               consumers=consumers, model_inputs=list(model.inputs),
                               model_outputs=list(model.outputs), aliases=aliases, scratch=scratch,
                               scratch_in_place=scratch_in_place)


def plan_arena(model: TFLiteModel) -> planner.ArenaPlan:
    """The static arena plan the generated code uses for this model."""
    lowered = opsmod.check_model(model)
    plan, _ = planner.plan(_plan_request(model, lowered))
    return plan


def _tensor_info(model: TFLiteModel, index: int) -> TensorInfo:
    t = model.tensor(index)
    scale = float(t.scale[0]) if t.scale.size else 0.0
    zp = int(t.zero_point[0]) if t.zero_point.size else 0
    return TensorInfo(shape=tuple(int(d) for d in t.shape), dtype=t.dtype, scale=scale, zero_point=zp,
                      size_bytes=t.nbytes)


def _c_float(x: float) -> str:
    return f"{float(np.float32(x))!r}f"


def _format_array(values: list, ctype: str) -> str:
    """Numbers, 16 (ints) or 6 (floats) per line."""
    if ctype == "float":
        items = [_c_float(v) for v in values]
        per_line = 6
    else:
        items = [str(int(v)) for v in values]
        if ctype == "int32_t":
            # INT32_MIN cannot be written as a plain literal.
            items = ["(-2147483647 - 1)" if v == "-2147483648" else v for v in items]
        per_line = 16
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n    ".join(lines)


@dataclass
class _Resolver:
    plan: planner.ArenaPlan

    def pointer(self, tensor: int, offset_elems: int = 0, writable: bool = False) -> str:
        buf = self.plan.buffer_of(tensor)
        if buf.storage == planner.EXTERNAL_INPUT:
            if writable:
                raise ModelError(f"internal error: tensor {tensor} would be written into the caller's input.")
            base, off = "input", 0
        elif buf.storage == planner.EXTERNAL_OUTPUT:
            base, off = "output", 0
        else:
            base, off = "tinyml_arena", buf.offset
        off += offset_elems
        return base if off == 0 else f"{base} + {off}"

    def scratch(self, op: int) -> str:
        b = self.plan.scratch_buffer.get(op)
        if b is None:
            return "NULL"
        off = self.plan.buffers[b].offset
        return "tinyml_arena" if off == 0 else f"tinyml_arena + {off}"


def _render_calls(model: TFLiteModel, lowered: list[opsmod.Lowered], plan: planner.ArenaPlan,
                  accepted: set[int]) -> list[dict]:
    res = _Resolver(plan)
    ops_ctx = []
    for low in lowered:
        calls, structs = [], []
        note = ""
        if low.view_of is not None and low.op_index in accepted:
            note = f"no copy: tensor {low.outputs[0]} shares the bytes of tensor {low.view_of}"
        else:
            for k, call in enumerate(low.calls):
                pname = f"op{low.op_index}_params" + (f"{k}" if len(low.calls) > 1 else "")
                args = []
                for a in call.args:
                    if a == "&params":
                        args.append(f"&{pname}")
                    elif a == "scratch":
                        args.append(res.scratch(low.op_index))
                    elif a.startswith("in:"):
                        args.append(res.pointer(int(a[3:])))
                    elif a.startswith("out:"):
                        t, _, off = a[4:].partition("+")
                        args.append(res.pointer(int(t), int(off or 0), writable=True))
                    else:
                        args.append(a)
                if call.params_type is not None:
                    structs.append({"type": call.params_type, "name": pname, "fields": call.params})
                calls.append({"kernel": call.kernel, "args": args})
            if low.in_place_of is not None and low.op_index in accepted:
                note = f"in place over tensor {low.in_place_of}"
        ins = ", ".join(str(t) for t in low.inputs if model.tensor(t).data is None)
        outs = ", ".join(str(t) for t in low.outputs)
        ops_ctx.append({
            "index": low.op_index, "opcode": low.opcode, "summary": low.summary,
            "tensors": f"tensor {ins} -> {outs}", "note": note, "calls": calls, "structs": structs,
            "consts": [{"name": c.name, "ctype": c.ctype, "count": len(c.values), "align": c.align_bytes,
                        "body": _format_array(c.values, c.ctype)} for c in low.consts],
            "output": res.pointer(low.outputs[0]) if low.outputs else "NULL",
            "output_bytes": model.tensor(low.outputs[0]).nbytes if low.outputs else 0,
        })
    return ops_ctx


def _jinja_env():
    import jinja2
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("firmware_templates") / "aot")),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
        lstrip_blocks=True, autoescape=False)
    env.filters["c_float"] = _c_float
    return env


def generate(model_path: Path, out_dir: Path, *, source_name: str | None = None) -> AotProject:
    """Generate model.c / model.h and copy the kernel library into out_dir.

    Raises UnsupportedOperatorError (before writing anything) when an operator
    cannot run on the aot runtime, and ModelError for unreadable models.
    """
    model_path, out_dir = Path(model_path), Path(out_dir)
    model = load_model(model_path)
    lowered = opsmod.check_model(model)
    plan, accepted = planner.plan(_plan_request(model, lowered))
    source = source_name or model_path.name
    if "*/" in source or "\n" in source:
        raise ModelError(f"source name {source!r} cannot appear in a C comment.")
    ops_ctx = _render_calls(model, lowered, plan, accepted)
    inp, out = _tensor_info(model, model.inputs[0]), _tensor_info(model, model.outputs[0])
    consts = [c for low in lowered for c in low.consts]
    for c in consts:
        if not _IDENT.match(c.name):
            raise ModelError(f"internal error: {c.name!r} is not a C identifier.")
    weights_bytes = sum(c.size_bytes for c in consts)
    ctx = {
        "source": source, "ops": ops_ctx, "input": inp, "output": out,
        "input_shape": list(inp.shape) or [1], "output_shape": list(out.shape) or [1],
        "arena_bytes": plan.arena_bytes, "weights_bytes": weights_bytes,
        "operator_count": len(lowered), "plan_strategy": plan.strategy,
        "tensor_data_bytes": plan.tensor_data_bytes,
    }
    env = _jinja_env()
    files = {
        Path("model.h"): env.get_template("model.h.j2").render(**ctx),
        Path("model.c"): env.get_template("model.c.j2").render(**ctx),
    }
    kernel_dir = data_dir("firmware_templates") / "aot" / "kernels"
    kernel_bytes = {Path("kernels") / name: (kernel_dir / name).read_bytes() for name in KERNEL_FILES}
    out_dir.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        atomic_write_text(out_dir / rel, text)
    for rel, data in kernel_bytes.items():
        atomic_write_bytes(out_dir / rel, data)
    return AotProject(
        out_dir=out_dir, sources=[Path("model.c"), Path("kernels/tinyml_kernels.c")],
        headers=[Path("model.h"), Path("kernels/tinyml_kernels.h")],
        include_dirs=[Path("."), Path("kernels")], arena_bytes=plan.arena_bytes,
        weights_bytes=weights_bytes, input=inp, output=out,
        operators=[low.opcode for low in lowered])

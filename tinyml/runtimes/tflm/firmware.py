"""The TFLM part of a firmware project (tinyml.runtimes.RUNTIME_SOURCES["tflm"]).

Rendered into the project:

    model/model_data.h, .c    the .tflite as a 16-byte aligned const array (tinyml export)
    model/model.h             the harness interface (tinyml_init / tinyml_invoke / arena used)
    model/tflm_model.cc       MicroMutableOpResolver with exactly the model's operator types,
                              the arena, the interpreter, the optional per-operator profiler
    tflm/libtflm.a            the cached TFLM library for this core (copied, never rebuilt here)
    tflm/<tree paths>         only the TFLM/third-party headers tflm_model.cc includes, found
                              with the compiler's dependency scan, and the licenses

so the project still builds with plain `make` anywhere, and its bytes do not
depend on where the TFLM tree or the cache live.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ... import proc
from ...ctemplates import render
from ...errors import ToolError, UnsupportedOperatorError
from ..base import ModelSources
from .library import LibraryConfig, TFLMLibrary, build_library
from .tree import MICRO, TFLMTree

MODEL_SYMBOL = "tinyml_model_data"
_RESOLVER_HEADER = f"{MICRO}/micro_mutable_op_resolver.h"


def resolver_method(opcode: str) -> str:
    """TFLM's own rule (generate_micro_mutable_op_resolver_from_model.py
    ParseString): CONV_2D -> AddConv2D, UNIDIRECTIONAL_SEQUENCE_LSTM ->
    AddUnidirectionalSequenceLSTM."""
    word = opcode.replace("TFLite", "")
    out = ""
    for part in re.split(r"_|-", word):
        if len(part) > 1:
            out += (part[0].upper() + part[1:].lower()) if part[0].isalpha() else part.upper()
        else:
            out += part.upper()
    out = out.replace("Lstm", "LSTM").replace("BatchMatmul", "BatchMatMul")
    return "Add" + out


def resolver_methods(tree: TFLMTree) -> set[str]:
    """The Add<Op>() methods MicroMutableOpResolver offers in this tree."""
    text = (tree.root / _RESOLVER_HEADER).read_text()
    return set(re.findall(r"TfLiteStatus\s+(Add\w+)\s*\(", text))


@dataclass(frozen=True)
class OpRegistration:
    opcode: str
    method: str
    indices: tuple[int, ...]


def plan_resolver(model, tree: TFLMTree, model_path: Path) -> list[OpRegistration]:
    """One registration per operator type, in order of first use; an operator
    TFLM cannot run is an error naming it and where it is."""
    available = resolver_methods(tree)
    by_type: dict[str, list[int]] = {}
    for op in model.operators:
        by_type.setdefault(op.opcode, []).append(op.index)
    out = []
    for opcode, indices in by_type.items():
        method = resolver_method(opcode.split(":", 1)[-1])
        if opcode.startswith("CUSTOM:") or method not in available:
            raise UnsupportedOperatorError(
                f"{model_path.name}: operator {indices[0]} ({opcode}) has no TFLM kernel in "
                f"MicroMutableOpResolver ({tree.root / _RESOLVER_HEADER}); the tflm runtime cannot "
                "run this model.", path=model_path,
                hint="Try --runtime aot, or rewrite the model without this operator.")
        out.append(OpRegistration(opcode, method, tuple(indices)))
    return out


def library_config(core_flags: list[str], opt: str, kernels: str, strip_error_strings: bool) -> LibraryConfig:
    """-Os (the default) builds TFLM as its release Makefile does (core -Os,
    kernels -O2); -O2/-O3 build all of it at that level."""
    if opt == "-Os":
        core_opt, kernel_opt = "-Os", "-O2"
    else:
        core_opt = kernel_opt = opt
    return LibraryConfig(core_flags=tuple(core_flags), kernels=kernels, core_opt=core_opt,
                         kernel_opt=kernel_opt, strip_error_strings=strip_error_strings)


_TFLITE_TYPES = {"int8": "kTfLiteInt8", "int16": "kTfLiteInt16"}


def _io_slices(tensors) -> list[dict]:
    """Each tensor's place in the harness bytes (one after the other)."""
    out, offset = [], 0
    for t in tensors:
        out.append({"name": t.name, "dtype": t.dtype, "tflite_type": _TFLITE_TYPES[t.dtype],
                    "offset": offset, "nbytes": t.nbytes, "shape": list(t.shape)})
        offset += t.nbytes
    return out


def _header_closure(tree: TFLMTree, lib: TFLMLibrary, source: Path, project: Path) -> list[Path]:
    """Files of the tree that `source` includes (directly or not)."""
    project, source = project.resolve(), source.resolve()   # the scan runs inside project
    cxx = proc.require_tool("arm-none-eabi-g++", "install gcc-arm-none-eabi (make setup)")
    argv = [cxx, *lib.config.cxxflags(), "-M", "-MG",
            f"-I{project / 'src'}", f"-I{project / 'model'}",
            *[f"-I{d}" for d in lib.include_dirs], str(source)]
    res = proc.run(argv, cwd=project, timeout_s=300, check=False)
    if res.returncode != 0:
        lines = (res.stderr.strip() or res.stdout.strip()).splitlines()
        tail = [line for line in lines if "error" in line.lower()][-8:] or lines[-8:]
        raise ToolError(f"scanning the TFLM headers of {source.name} failed.",
                        hint="\n".join(tail) or None)
    deps = res.stdout.replace("\\\n", " ").split(":", 1)[-1].split()
    root = tree.root.resolve()
    out = set()
    for dep in deps:
        p = Path(dep)
        if not p.is_absolute():
            p = (project / p)
        try:
            p.resolve().relative_to(root)
        except ValueError:
            continue
        out.add(p.resolve())
    return sorted(out)


def _licenses(tree: TFLMTree) -> list[Path]:
    cands = [tree.root / "LICENSE"] + [tree.third_party / n / f for n in
                                       ("flatbuffers", "gemmlowp", "ruy", "cmsis", "cmsis_nn")
                                       for f in ("LICENSE", "LICENSE.txt")]
    return [p for p in cands if p.is_file()]


def firmware_sources(model_path: Path, project: Path, *, source_name: str, core_flags: list[str],
                     opt: str = "-Os", tflm_dir: str | Path | None = None,
                     kernels: str | None = None, strip_error_strings: bool = False, progress=None,
                     board=None, boards_dirs=None, arena_bytes: int | None = None,
                     calibrate: bool = False, calibrator=None, **_ignored):
    """Write the TFLM model part into `project`; returns tinyml.runtimes.base.ModelSources.

    arena_bytes: use this arena instead of the device-measured one; calibrate:
    the arena calibration firmware of arena.py (finds the smallest arena that
    AllocateTensors accepts, prints it as arena_min= on the END line); calibrator: what measures
    the arena on the emulated core when no record exists (tinyml.tflm_calibration, handed down
    by the stage rendering the firmware)."""
    from ...errors import ModelError
    from ...export import render_model_data
    from ...interpreters import tflm_arena_bytes
    from ...tflite_model import load_model
    from .arena import measure
    from .locate import require_tree

    model_path = Path(model_path)
    kernels = kernels or os.environ.get("TINYML_TFLM_KERNELS") or "cmsis_nn"
    tree = require_tree(tflm_dir)
    model = load_model(model_path)
    ops = plan_resolver(model, tree, model_path)
    from ..base import harness_io_problem

    problem = harness_io_problem(model, "tflm")
    if problem is not None:
        raise ModelError(f"{model_path}: {problem}.", path=model_path)
    ins, outs = _io_slices(model.input_tensors), _io_slices(model.output_tensors)
    input_bytes, output_bytes = sum(t["nbytes"] for t in ins), sum(t["nbytes"] for t in outs)
    lib = build_library(tree, library_config(core_flags, opt, kernels, strip_error_strings),
                        progress=progress)
    if arena_bytes is not None:
        arena, arena_note = int(arena_bytes), "given by the caller (arena calibration firmware)"
    else:
        try:
            host_bytes = tflm_arena_bytes(model_path)
        except ModelError:
            host_bytes = None
        io_bytes = input_bytes + output_bytes
        plan = measure(model_path, lib, board, core_flags, opt=opt, kernels=kernels,
                       strip_error_strings=strip_error_strings, host_bytes=host_bytes,
                       io_bytes=io_bytes, boards_dirs=boards_dirs, progress=progress, calibrator=calibrator)
        arena, arena_note = plan.arena_bytes, plan.note

    model_dir = project / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    _, data_files = render_model_data(model_path, MODEL_SYMBOL)
    for name, text in data_files.items():
        (model_dir / name).write_text(text)
    ctx = {
        "source": source_name, "tflm_ref": tree.ref or "a local TFLM tree", "kernels": kernels,
        "input_bytes": input_bytes, "output_bytes": output_bytes, "arena_bytes": arena,
        "inputs": ins, "outputs": outs,
        "variable_tensors": sum(1 for t in model.tensors if t.is_variable),
        "arena_note": arena_note, "calibrate": calibrate,
        "weights_bytes": model_path.stat().st_size, "operator_count": len(model.operators),
        "model_symbol": MODEL_SYMBOL, "ops": ops,
        "operator_names": [op.opcode for op in model.operators],
    }
    (model_dir / "model.h").write_text(render("tflm/model.h.j2", **ctx))
    (model_dir / "tflm_model.cc").write_text(render("tflm/tflm_model.cc.j2", **ctx))

    # The library and exactly the headers the glue includes, at their tree paths.
    tflm_out = project / "tflm"
    tflm_out.mkdir()
    shutil.copyfile(lib.path, tflm_out / "libtflm.a")
    root = tree.root.resolve()
    for header in _header_closure(tree, lib, model_dir / "tflm_model.cc", project):
        dest = tflm_out / header.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(header, dest)
    for lic in _licenses(tree):
        dest = tflm_out / lic.resolve().relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lic, dest)
    include_dirs = []
    for d in lib.include_dirs:
        rel = Path(d).resolve().relative_to(root).as_posix()
        if (tflm_out / rel).is_dir():
            include_dirs.append("tflm" if rel == "." else f"tflm/{rel}")
    return ModelSources(
        sources=["model/model_data.c", "model/tflm_model.cc"],
        include_dirs=["model"],
        defines=[f"-isystem {d}" for d in include_dirs] + lib.config.defines(),
        header="model.h",
        model_sources=["model/model_data.c"],
        runtime_sources=["model/tflm_model.cc", "tflm/libtflm.a"],
        arena_bytes=arena,
        weights_bytes=model_path.stat().st_size,
        input_bytes=input_bytes,
        output_bytes=output_bytes,
        operators=[op.opcode for op in model.operators],
        link_libraries=["tflm/libtflm.a"],
    )

"""Build and run generated AOT code on the host with gcc (used by verify and tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ... import proc
from ...errors import ToolError
from ...resources import data_dir
from .project import AotProject

# The flags the generated code must pass cleanly.
HOST_CFLAGS = ["-O2", "-Wall", "-Wextra", "-Werror", "-std=c99"]


def host_dir() -> Path:
    return data_dir("firmware_templates") / "aot" / "host"


def build_runner(project: AotProject, exe_path: Path, *, log_path: Path | None = None,
                 per_layer: bool = True, kernels_object: Path | None = None,
                 timeout_s: float = 300) -> Path:
    """Compile model.c + kernels + the host runner into exe_path.

    With per_layer the runner can dump every operator's output
    (TINYML_DEBUG_TENSORS); the model's arithmetic is the same either way.
    kernels_object, if given, is a prebuilt tinyml_kernels.o (tests reuse one).
    """
    gcc = proc.require_tool("gcc", "install the host C compiler (Debian/Ubuntu: apt-get install gcc)")
    out = project.out_dir.resolve()
    host = host_dir()
    argv: list[str | Path] = [gcc, *HOST_CFLAGS]
    argv += [f"-I{out / d}" for d in project.include_dirs] + [f"-I{host}"]
    if per_layer:
        argv += ["-DTINYML_DEBUG_TENSORS", '-DTINYML_HOOKS_FILE="tinyml_host_hooks.h"']
    sources = [out / s for s in project.sources]
    if kernels_object is not None:
        sources = [s for s in sources if s.name != "tinyml_kernels.c"] + [kernels_object]
    # gcc runs in the project folder: the output path must not be relative to the caller's
    exe_path = Path(exe_path).resolve()
    argv += [*sources, host / "tinyml_host_main.c", "-o", exe_path]
    exe_path.parent.mkdir(parents=True, exist_ok=True)
    proc.run(argv, cwd=out, log_path=log_path, timeout_s=timeout_s)
    return exe_path


def build_kernels_object(kernel_dir: Path, obj_path: Path, *, log_path: Path | None = None) -> Path:
    gcc = proc.require_tool("gcc", "install the host C compiler (Debian/Ubuntu: apt-get install gcc)")
    obj_path.parent.mkdir(parents=True, exist_ok=True)
    proc.run([gcc, *HOST_CFLAGS, f"-I{kernel_dir}", "-c", kernel_dir / "tinyml_kernels.c", "-o", obj_path],
             log_path=log_path, timeout_s=120)
    return obj_path


def run_runner(exe_path: Path, inputs: np.ndarray, work_dir: Path, *, output_bytes: int,
               layer_bytes: list[int] | None = None, log_path: Path | None = None,
               timeout_s: float = 600) -> tuple[np.ndarray, list[list[bytes]] | None]:
    """Feed inputs (n, input bytes) through the runner; outputs as uint8 (n, output_bytes).

    With layer_bytes (the output size of every operator, in order) also
    returns, per input, each operator's output bytes.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    raw = np.ascontiguousarray(inputs)
    n = raw.shape[0]
    in_path, out_path = work_dir / "inputs.bin", work_dir / "outputs.bin"
    layers_path = work_dir / "layers.bin"
    in_path.write_bytes(raw.tobytes())
    argv: list[str | Path] = [exe_path, in_path, out_path]
    if layer_bytes is not None:
        argv.append(layers_path)
    proc.run(argv, log_path=log_path, timeout_s=timeout_s)
    data = np.frombuffer(out_path.read_bytes(), dtype=np.uint8)
    if data.size != n * output_bytes:
        raise ToolError(f"the host runner wrote {data.size} bytes for {n} inputs "
                        f"({n * output_bytes} expected).", log_path=log_path)
    layers = None
    if layer_bytes is not None:
        blob = layers_path.read_bytes()
        per_sample = sum(layer_bytes)
        if len(blob) != n * per_sample:
            raise ToolError(f"the host runner dumped {len(blob)} layer bytes ({n * per_sample} expected).",
                            log_path=log_path)
        layers = []
        for i in range(n):
            pos, row = i * per_sample, []
            for size in layer_bytes:
                row.append(blob[pos:pos + size])
                pos += size
            layers.append(row)
    return data.reshape(n, output_bytes), layers

"""The aot part of a firmware project (tinyml.runtimes.RUNTIME_SOURCES["aot"])."""

from __future__ import annotations

from pathlib import Path

from ..base import ModelSources
from .codegen import generate


def firmware_sources(model_path: Path, project: Path, source_name: str, **_) -> ModelSources:
    aot = generate(model_path, project / "model", source_name=source_name)
    rel = [f"model/{p.as_posix()}" for p in aot.sources]
    model_srcs = [s for s in rel if "kernels/" not in s]
    return ModelSources(
        sources=rel, include_dirs=[f"model/{d.as_posix()}".rstrip("/.") or "model" for d in aot.include_dirs],
        defines=["-DTINYML_HOOKS_FILE='\"tinyml_hooks.h\"'"], header="model.h",
        model_sources=model_srcs, runtime_sources=[s for s in rel if s not in model_srcs],
        arena_bytes=aot.arena_bytes, weights_bytes=aot.weights_bytes,
        input_bytes=aot.input.size_bytes, output_bytes=aot.output.size_bytes,
        operators=list(aot.operators))

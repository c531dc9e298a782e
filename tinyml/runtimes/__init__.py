"""Runtimes that execute the model on the MCU: aot (generated C) and tflm.

Each runtime plugs into the firmware stage through the registry below,
RUNTIME_SOURCES[name](model_path, project_dir, source_name=..., board=...,
core_flags=..., opt=...) -> ModelSources (tinyml/runtimes/base.py): it writes
its part of the project (model/ and anything it links) and says which sources,
flags and libraries the shared Makefile and harness main.c build with. The
firmware stage asks the registry; the runtimes import only lower modules
(runtimes.base, tflite_model, ...), never the firmware stage.

`resolve_runtime` turns the user's --runtime (auto | aot | tflm) into the one
that is used: auto means tflm when a TFLM tree is found (--tflm-dir,
$TINYML_TFLM_DIR or the cache), else aot, with one line saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .base import ModelSources

RUNTIMES = ("aot", "tflm")
RUNTIME_CHOICES = ("auto",) + RUNTIMES


def _aot_sources(model_path, project, source_name, **kwargs) -> "ModelSources":
    from .aot.firmware import firmware_sources      # lazy: TensorFlow-free CLI start

    return firmware_sources(model_path, project, source_name=source_name, **kwargs)


def _tflm_sources(model_path, project, source_name, **kwargs) -> "ModelSources":
    from .tflm.firmware import firmware_sources

    return firmware_sources(model_path, project, source_name=source_name, **kwargs)


RUNTIME_SOURCES: dict[str, Callable[..., "ModelSources"]] = {"aot": _aot_sources, "tflm": _tflm_sources}


@dataclass(frozen=True)
class RuntimeChoice:
    runtime: str              # "aot" | "tflm": what is built
    requested: str            # "auto" | "aot" | "tflm": what the user asked for
    note: str | None = None   # one line for the console and the report when auto fell back
    tflm_dir: Path | None = None

    def to_dict(self) -> dict:
        return {"runtime": self.runtime, "requested": self.requested, "note": self.note,
                "tflm_dir": str(self.tflm_dir) if self.tflm_dir else None}


def resolve_runtime(requested: str | None, tflm_dir: str | Path | None = None) -> RuntimeChoice:
    """auto -> tflm if a TFLM tree is found, else aot (with a note); tflm
    without a tree is a ToolError that says how to get one."""
    from ..errors import ConfigError
    from . import tflm

    requested = requested or "auto"
    if requested not in RUNTIME_CHOICES:
        raise ConfigError(f"unknown runtime {requested!r}; choose one of {', '.join(RUNTIME_CHOICES)}.")
    if requested == "aot":
        return RuntimeChoice("aot", "aot")
    if requested == "tflm":
        return RuntimeChoice("tflm", "tflm", tflm_dir=tflm.require_tree(tflm_dir).root)
    tree = tflm.find_tree(tflm_dir)
    if tree is None:
        return RuntimeChoice(
            "aot", "auto",
            note=("no TensorFlow Lite Micro tree found, so the aot runtime is used "
                  "(`tinyml tflm fetch` gets one)"))
    return RuntimeChoice("tflm", "auto", tflm_dir=tree.root)

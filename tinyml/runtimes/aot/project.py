"""What generate() hands to the firmware and verify stages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class TensorInfo:
    shape: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int
    size_bytes: int


@dataclass
class AotProject:
    out_dir: Path
    sources: list[Path]        # .c files, relative to out_dir
    headers: list[Path]
    include_dirs: list[Path]   # relative to out_dir
    arena_bytes: int           # the planned arena
    weights_bytes: int         # const data bytes (weights, biases, requant params)
    input: TensorInfo
    output: TensorInfo
    operators: list[str]

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

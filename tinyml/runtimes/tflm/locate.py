"""Where the TFLite Micro tree is: --tflm-dir, $TINYML_TFLM_DIR, or the cache.

A module of its own so that the firmware part (firmware.py) and the package's
__init__ both import it, instead of firmware.py importing its own package.
"""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import ConfigError, ToolError
from .fetch import tflm_cache_dir
from .pins import DEFAULT_REF
from .tree import TFLMTree, explain_not_a_tree, inspect_tree

ENV_VAR = "TINYML_TFLM_DIR"


def find_tree(explicit_dir: str | Path | None = None) -> TFLMTree | None:
    """The tree to use: --tflm-dir, else $TINYML_TFLM_DIR, else the cache
    (the default pinned ref first, then any other complete tree there).
    An explicitly named directory that is not a TFLM tree is an error."""
    if explicit_dir:
        tree = inspect_tree(Path(explicit_dir).expanduser(), "--tflm-dir")
        if tree is None:
            raise ConfigError(f"--tflm-dir: {explain_not_a_tree(Path(explicit_dir))}.",
                              path=explicit_dir)
        return tree
    env = os.environ.get(ENV_VAR)
    if env:
        tree = inspect_tree(Path(env).expanduser(), ENV_VAR)
        if tree is None:
            raise ConfigError(f"{ENV_VAR}: {explain_not_a_tree(Path(env))}.", path=env)
        return tree
    cache = tflm_cache_dir()
    candidates = [cache / DEFAULT_REF]
    if cache.is_dir():
        candidates += sorted(p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")
                             and p.name != DEFAULT_REF)
    for cand in candidates:
        tree = inspect_tree(cand, "cache")
        if tree is not None and tree.provenance is not None:
            return tree
    return None


def locate_tree(explicit_dir: str | Path | None = None) -> Path | None:
    """The root of the TFLM tree to use, or None when there is none."""
    tree = find_tree(explicit_dir)
    return tree.root if tree is not None else None


def how_to_get_tflm() -> str:
    return ("Get one with `tinyml tflm fetch` (downloads the pinned sources from github.com into "
            f"{tflm_cache_dir()}), or offline with `tinyml tflm fetch --from DIR...` given git "
            "clones of tflite-micro, flatbuffers, gemmlowp, ruy, CMSIS_6 and CMSIS-NN; or point "
            f"--tflm-dir / {ENV_VAR} at an existing TFLM tree.")


def require_tree(explicit_dir: str | Path | None = None) -> TFLMTree:
    tree = find_tree(explicit_dir)
    if tree is None:
        raise ToolError(f"no TensorFlow Lite Micro tree found (no --tflm-dir, no {ENV_VAR}, "
                        f"nothing in {tflm_cache_dir()}).", hint=how_to_get_tflm())
    return tree

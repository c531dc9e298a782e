"""Where the shipped data lives: boards/, firmware_templates/, renode/.

In a source checkout (and an editable install) they sit at the top of the
repository; in an installed wheel they are package data under tinyml/_data/
(see pyproject.toml). tinyml/_data/<name> has no __init__.py, so asking
importlib.resources for `tinyml._data.<name>` would give a namespace
package's MultiplexedPath, which is not a directory on disk (its str() is
"MultiplexedPath('...')"). We ask for the regular package `tinyml` instead
and walk down from it with files(): on a normal install that is a real
directory; from a zip (or any other loader) the tree is extracted once with
as_file() into a temporary directory that lives as long as the process.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.resources
import tempfile
from functools import lru_cache
from importlib.resources.abc import Traversable
from pathlib import Path

_DATA_DIRS = ("boards", "firmware_templates", "renode")
_ROOT = Path(__file__).resolve().parent.parent
_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


def _checkout_dir(name: str) -> Path | None:
    # Only a source checkout has pyproject.toml beside the package: a wheel in
    # site-packages must never pick up an unrelated top-level "boards" folder.
    candidate = _ROOT / name
    if (_ROOT / "pyproject.toml").is_file() and candidate.is_dir():
        return candidate
    return None


def _copy_tree(src: Traversable, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for child in src.iterdir():
        if child.is_dir():
            _copy_tree(child, dest / child.name)
        else:
            with importlib.resources.as_file(child) as real:
                (dest / child.name).write_bytes(Path(real).read_bytes())


@lru_cache(maxsize=None)
def data_dir(name: str) -> Path:
    """The directory `name` (one of boards, firmware_templates, renode) as a real path on disk."""
    if name not in _DATA_DIRS:
        raise ValueError(f"unknown data directory {name!r}")
    checkout = _checkout_dir(name)
    if checkout is not None:
        return checkout
    packaged = importlib.resources.files("tinyml").joinpath("_data", name)
    if isinstance(packaged, Path):
        return packaged
    dest = Path(_extracted.enter_context(tempfile.TemporaryDirectory(prefix="tinyml-data-"))) / name
    _copy_tree(packaged, dest)
    return dest

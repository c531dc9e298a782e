"""Where the shipped data lives: boards/, firmware_templates/, renode/.

In a source checkout they sit at the top of the repository; in an installed
wheel they are package data under tinyml/_data/ (see pyproject.toml).
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

_DATA_DIRS = ("boards", "firmware_templates", "renode")


def data_dir(name: str) -> Path:
    if name not in _DATA_DIRS:
        raise ValueError(f"unknown data directory {name!r}")
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    return Path(str(importlib.resources.files(f"tinyml._data.{name}")))

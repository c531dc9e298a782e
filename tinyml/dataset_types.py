"""What a dataset is (Dataset) and how to ask for one (DatasetSpec).

Below both data.py (the built-in loaders and the dispatch) and example_data.py
(the example datasets): each imports these types from here, so data.py can
dispatch to example_data.py without the two importing each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class DatasetSpec:
    """What to load; recorded in model/dataset.json so later stages reload the same split."""

    kind: str = "digits"
    path: str | None = None
    seed: int = 0
    test_fraction: float = 0.2
    label_column: str | None = None          # CSV: name or index; default: the last column
    image_size: tuple[int, int] | None = None  # images: (height, width); default 32x32
    grayscale: bool = False                  # images
    options: dict = field(default_factory=dict)  # kind-specific (example datasets)

    @staticmethod
    def from_dict(d: dict) -> "DatasetSpec":
        d = dict(d)
        if d.get("image_size") is not None:
            d["image_size"] = tuple(d["image_size"])
        return DatasetSpec(**d)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

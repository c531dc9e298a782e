"""Datasets: scikit-learn's bundled digits (offline default), .npz, CSV, and a
folder of images per class. Every dataset is split deterministically into
train / held-out test with the seed, stratified by class.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .dataset_types import Dataset, DatasetSpec
from .errors import DatasetError

DATASET_KINDS = ("digits", "npz", "csv", "images", "fashion_mnist", "gestures", "kws_espeak")
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm"}


def spec_from_arg(arg: str, **kwargs) -> DatasetSpec:
    """`digits` or an example dataset name (fashion_mnist, gestures,
    kws_espeak), or a path: *.npz, *.csv, or a directory of class folders."""
    if arg in ("digits", "fashion_mnist", "gestures", "kws_espeak"):
        return DatasetSpec(kind=arg, **kwargs)
    path = Path(arg)
    if not path.exists():
        raise DatasetError(f"dataset '{arg}' is neither 'digits' nor an existing file or folder.",
                           path=arg)
    if path.is_dir():
        return DatasetSpec(kind="images", path=str(path), **kwargs)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return DatasetSpec(kind="npz", path=str(path), **kwargs)
    if suffix == ".csv":
        return DatasetSpec(kind="csv", path=str(path), **kwargs)
    raise DatasetError(f"{arg}: unknown dataset format '{suffix}' (expected .npz, .csv, "
                       "a folder with one sub-folder of images per class, or 'digits').", path=arg)


def load_dataset(spec: DatasetSpec, progress=None) -> Dataset:
    """Load and split; `progress` (a ProgressSink) shows long builds (kws synthesis)."""
    if spec.kind not in DATASET_KINDS:
        raise DatasetError(f"unknown dataset kind '{spec.kind}' (expected one of {', '.join(DATASET_KINDS)}).")
    if not 0.0 < spec.test_fraction < 1.0:
        raise DatasetError(f"test_fraction must be between 0 and 1, got {spec.test_fraction}.")
    if spec.kind in ("fashion_mnist", "gestures", "kws_espeak"):
        # Example datasets come with their own held-out split (the official test
        # files, held-out subjects, held-out voices).
        from . import example_data
        if spec.kind == "kws_espeak":
            return example_data.load_kws_espeak(spec, progress=progress)
        return getattr(example_data, f"load_{spec.kind}")(spec)
    loader = {"digits": _load_digits, "npz": _load_npz, "csv": _load_csv, "images": _load_images}[spec.kind]
    x, y, names = loader(spec)
    if len(x) != len(y):
        raise DatasetError(f"{spec.path}: {len(x)} samples but {len(y)} labels.", path=spec.path)
    if len(x) < 4:
        raise DatasetError(f"{spec.path}: only {len(x)} samples; need at least 4 to split.", path=spec.path)
    return _split(x.astype(np.float32), y, names, spec)


def _split(x: np.ndarray, y: np.ndarray, names: list[str], spec: DatasetSpec) -> Dataset:
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y) if y.ndim == 1 and len(y) else np.array([])
    stratify = y if counts.size and counts[counts > 0].min() >= 2 else None
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=spec.test_fraction, random_state=spec.seed, stratify=stratify)
    return Dataset(x_tr, y_tr, x_te, y_te, names, source=spec.path or spec.kind)


def _load_digits(spec: DatasetSpec):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel values are 0..16; scale to 0..1 so the int8 input range is used well.
    x = (bunch.images / 16.0).astype(np.float32)[..., np.newaxis]
    return x, bunch.target.astype(np.int64), [str(n) for n in bunch.target_names]


def _encode_labels(raw: np.ndarray, path: str) -> tuple[np.ndarray, list[str]]:
    if raw.ndim != 1:
        raise DatasetError(f"{path}: labels must be one value per sample, got shape {raw.shape}.",
                           path=path)
    if np.issubdtype(raw.dtype, np.integer):
        if raw.min() < 0:
            raise DatasetError(f"{path}: integer labels must be 0 or greater.", path=path)
        n = int(raw.max()) + 1
        return raw.astype(np.int64), [str(i) for i in range(n)]
    names = sorted({str(v) for v in raw})
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[str(v)] for v in raw], np.int64), names


def _load_npz(spec: DatasetSpec):
    path = Path(spec.path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset file.", path=path)
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            if not {"x", "y"} <= keys:
                raise DatasetError(f"{path} must contain arrays 'x' and 'y'; it has {sorted(keys)}.",
                                   path=path)
            x, y = data["x"], data["y"]
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(f"{path} is not a readable .npz file ({exc}).", path=path) from exc
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    if x.ndim == 3:  # (N, H, W) images: add the channel axis
        x = x[..., np.newaxis]
    if not np.issubdtype(x.dtype, np.number):
        raise DatasetError(f"{path}: 'x' must be numeric, got {x.dtype}.", path=path)
    y, names = _encode_labels(np.asarray(y).reshape(-1) if np.asarray(y).ndim == 2 and np.asarray(y).shape[1] == 1 else np.asarray(y), str(path))
    return x, y, names


def _load_csv(spec: DatasetSpec):
    path = Path(spec.path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset file.", path=path)
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    if not rows:
        raise DatasetError(f"{path} is empty.", path=path)
    header = None
    try:
        [float(c) for c in rows[0]]
    except ValueError:
        header, rows = rows[0], rows[1:]
    width = len(rows[0])
    label_idx = width - 1
    if spec.label_column is not None:
        if header is not None and spec.label_column in header:
            label_idx = header.index(spec.label_column)
        elif str(spec.label_column).lstrip("-").isdigit():
            label_idx = int(spec.label_column) % width
        else:
            raise DatasetError(f"{path}: no label column '{spec.label_column}'"
                               + (f" (columns: {', '.join(header)})." if header else "."), path=path)
    features, labels = [], []
    for line_no, row in enumerate(rows, start=2 if header else 1):
        if len(row) != width:
            raise DatasetError(f"{path}, line {line_no}: {len(row)} columns, expected {width}.", path=path)
        try:
            features.append([float(c) for i, c in enumerate(row) if i != label_idx])
        except ValueError as exc:
            raise DatasetError(f"{path}, line {line_no}: a feature is not a number ({exc}).",
                               path=path) from exc
        labels.append(row[label_idx].strip())
    raw = np.array(labels)
    try:
        raw = raw.astype(np.int64)
    except ValueError:
        pass
    y, names = _encode_labels(raw, str(path))
    return np.array(features, np.float32), y, names


def _load_images(spec: DatasetSpec):
    from PIL import Image

    root = Path(spec.path)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DatasetError(f"{root}: an image dataset needs one sub-folder per class (found {len(classes)}).",
                           path=root)
    height, width = spec.image_size or (32, 32)
    xs, ys = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not files:
            raise DatasetError(f"{root / name}: no images (expected {', '.join(sorted(_IMAGE_SUFFIXES))}).",
                               path=root / name)
        for f in files:
            try:
                with Image.open(f) as img:
                    img = img.convert("L" if spec.grayscale else "RGB").resize((width, height))
                    arr = np.asarray(img, np.float32) / 255.0
            except Exception as exc:
                raise DatasetError(f"{f}: not a readable image ({exc}).", path=f) from exc
            xs.append(arr[..., np.newaxis] if arr.ndim == 2 else arr)
            ys.append(label)
    return np.stack(xs), np.array(ys, np.int64), classes


def check_matches_model(dataset: Dataset, model_input_shape: tuple, source: str) -> None:
    """A dataset whose samples do not fit the model's input is one clear error."""
    expected = tuple(d for d in model_input_shape[1:])
    if tuple(dataset.input_shape) != expected:
        raise DatasetError(
            f"dataset {dataset.source} has samples of shape {tuple(dataset.input_shape)}, "
            f"but the model {source} expects {expected}.")

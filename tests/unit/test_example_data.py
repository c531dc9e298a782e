"""Example datasets: Fashion-MNIST (IDX files of Debian's package) and the
seglearn watch gestures; and the example project files."""

from __future__ import annotations

import gzip
import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest

from tinyml import example_data
from tinyml.data import DatasetSpec, load_dataset
from tinyml.errors import DatasetError

REPO = Path(__file__).resolve().parents[2]
FASHION_INSTALLED = (example_data.FASHION_DIR / "t10k-labels-idx1-ubyte.gz").is_file()
needs_fashion = pytest.mark.skipif(not FASHION_INSTALLED,
                                   reason="Debian's dataset-fashion-mnist is not installed (make setup installs it)")


# ---------------------------------------------------------------- IDX reader

def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_read_idx_plain_and_gzip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "plain").write_bytes(_idx_bytes(images))
    (tmp_path / "packed.gz").write_bytes(gzip.compress(_idx_bytes(images)))
    for name in ("plain", "packed.gz"):
        got = example_data.read_idx(tmp_path / name)
        assert got.shape == (2, 3, 4) and got.dtype == np.uint8
        np.testing.assert_array_equal(got, images)
    # Header by hand: magic 0x00000801, count 3, then the bytes.
    (tmp_path / "labels").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x03\x07\x00\x09")
    np.testing.assert_array_equal(example_data.read_idx(tmp_path / "labels"), [7, 0, 9])


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "magic").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(DatasetError, match="not an IDX file"):
        example_data.read_idx(tmp_path / "magic")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02")
    with pytest.raises(DatasetError, match="has 2 bytes, the header 5 needs 5"):
        example_data.read_idx(tmp_path / "short")


# ---------------------------------------------------------------- Fashion-MNIST

@needs_fashion
@pytest.mark.slow
def test_fashion_official_split_counts_and_labels():
    d = load_dataset(DatasetSpec(kind="fashion_mnist"))
    assert d.x_train.shape == (60000, 28, 28, 1) and d.x_test.shape == (10000, 28, 28, 1)
    assert d.x_train.dtype == np.float32 and 0.0 <= d.x_train.min() and d.x_train.max() == 1.0
    # The official files are balanced: 6,000 / 1,000 images per class.
    assert np.bincount(d.y_train).tolist() == [6000] * 10
    assert np.bincount(d.y_test).tolist() == [1000] * 10
    # The first labels of the official files (train: ankle boot, T-shirt, T-shirt, dress, ...).
    assert d.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert d.y_test[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert d.class_names[0] == "T-shirt/top" and d.class_names[9] == "Ankle boot"


@needs_fashion
@pytest.mark.slow
def test_fashion_subsample_is_stratified_and_seeded():
    full = load_dataset(DatasetSpec(kind="fashion_mnist"))
    spec = DatasetSpec(kind="fashion_mnist", options={"max_train": 1000, "max_test": 200})
    a, b = load_dataset(spec), load_dataset(spec)
    assert np.bincount(a.y_train).tolist() == [100] * 10
    assert np.bincount(a.y_test).tolist() == [20] * 10
    np.testing.assert_array_equal(a.x_train, b.x_train)
    other = load_dataset(DatasetSpec(kind="fashion_mnist", seed=1, options={"max_train": 1000, "max_test": 200}))
    assert not np.array_equal(a.x_train, other.x_train)
    # Every kept test image is one of the official test images (not a training image).
    flat = {img.tobytes() for img in full.x_test}
    assert all(img.tobytes() in flat for img in a.x_test)


def test_fashion_missing_package_names_it(tmp_path, monkeypatch):
    monkeypatch.setattr(example_data, "FASHION_DIR", tmp_path / "fashion-mnist")
    with pytest.raises(DatasetError) as err:
        load_dataset(DatasetSpec(kind="fashion_mnist"))
    assert "dataset-fashion-mnist" in err.value.message
    assert "apt-get install dataset-fashion-mnist" in err.value.hint


def test_fashion_from_a_folder_of_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    for part, n in (("train", 30), ("t10k", 10)):
        (tmp_path / f"{part}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(_idx_bytes(rng.integers(0, 256, (n, 28, 28)))))
        (tmp_path / f"{part}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(np.arange(n) % 10)))
    d = load_dataset(DatasetSpec(kind="fashion_mnist", path=str(tmp_path)))
    assert d.x_train.shape == (30, 28, 28, 1) and d.y_test.tolist() == list(range(10))


def test_unknown_option_is_named():
    with pytest.raises(DatasetError, match="no option 'max_trian'"):
        load_dataset(DatasetSpec(kind="fashion_mnist", options={"max_trian": 5}))


# ---------------------------------------------------------------- gestures

def test_window_arithmetic_by_hand():
    rec = np.arange(10 * 2, dtype=np.float64).reshape(10, 2)
    wins = example_data.window_recording(rec, window=4, step=2)
    # starts 0, 2, 4, 6: floor((10 - 4) / 2) + 1 = 4 windows
    assert wins.shape == (4, 4, 2)
    for i, start in enumerate([0, 2, 4, 6]):
        np.testing.assert_array_equal(wins[i], rec[start:start + 4])
    assert example_data.window_recording(rec, window=3, step=3).shape == (3, 3, 2)  # starts 0, 3, 6
    assert example_data.window_recording(rec[:3], window=4, step=1).shape == (0, 4, 2)


def test_gesture_windows_standardize_with_training_subjects_only():
    # Subjects 1 and 2 train, subject 3 tests. Channel 0 of the training
    # samples is 1 (6 samples) and 3 (6 samples): mean 2, std 1.
    recs = [np.column_stack([np.full(6, 1.0), np.arange(6.0)]),
            np.column_stack([np.full(6, 3.0), np.arange(6.0)]),
            np.column_stack([np.full(8, 7.0), np.arange(8.0)])]
    x_tr, y_tr, x_te, y_te, s_tr, s_te = example_data.make_gesture_windows(
        recs, np.array([0, 1, 1]), np.array([1, 2, 3]), test_subjects=[3], window=4, step=2)
    # 6 samples -> 2 windows each; 8 samples -> 3 windows
    assert x_tr.shape == (4, 4, 1, 2) and x_te.shape == (3, 4, 1, 2)
    assert y_tr.tolist() == [0, 0, 1, 1] and y_te.tolist() == [1, 1, 1]
    assert set(s_tr.tolist()) == {1, 2} and set(s_te.tolist()) == {3}
    np.testing.assert_allclose(x_tr[:2, :, 0, 0], -1.0)
    np.testing.assert_allclose(x_tr[2:, :, 0, 0], 1.0)
    np.testing.assert_allclose(x_te[:, :, 0, 0], 5.0)          # (7 - 2) / 1: training statistics
    # channel 1: training samples 0..5 twice, mean 2.5, std sqrt(35/12)
    np.testing.assert_allclose(x_te[2, :, 0, 1], (np.arange(4, 8) - 2.5) / np.sqrt(35 / 12))


def test_gestures_split_by_subject():
    d, s_tr, s_te = example_data.gesture_split(DatasetSpec(kind="gestures"))
    assert set(s_te.tolist()) == {3, 8} and not set(s_tr.tolist()) & set(s_te.tolist())
    assert d.x_train.shape[1:] == (100, 1, 6) and d.class_names == ["PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW"]
    raw = example_data.load_watch_recordings()
    lengths = [len(r) for r in raw["X"]]
    held = np.isin(raw["subject"], [3, 8])
    expected = [(n - 100) // 50 + 1 for n in lengths]
    assert len(d.x_test) == sum(e for e, h in zip(expected, held) if h)
    assert len(d.x_train) == sum(e for e, h in zip(expected, held) if not h)
    assert set(d.y_train.tolist()) == set(d.y_test.tolist()) == set(range(7))
    # standardized with the training subjects' statistics
    flat = d.x_train.reshape(-1, 6)
    np.testing.assert_allclose(flat.mean(axis=0), 0, atol=0.02)
    np.testing.assert_allclose(flat.std(axis=0), 1, atol=0.02)
    # the first 100 samples of the first training recording, standardized, are one of the windows
    first = int(np.flatnonzero(~held)[0])
    rec = np.asarray(raw["X"][first])
    train_all = np.concatenate([np.asarray(r) for r, h in zip(raw["X"], held) if not h])
    window = (rec[:100] - train_all.mean(0)) / train_all.std(0)
    match = np.flatnonzero(np.abs(d.x_train[:, :, 0, :] - window).max(axis=(1, 2)) < 1e-5)
    assert len(match) == 1 and d.y_train[match[0]] == raw["y"][first] and s_tr[match[0]] == raw["subject"][first]
    # held-out windows are mixed (not recording by recording): the first 50 cover most classes
    assert len(set(d.y_test[:50].tolist())) >= 5
    again, _, _ = example_data.gesture_split(DatasetSpec(kind="gestures", seed=7))
    np.testing.assert_array_equal(again.x_test, d.x_test)        # same held-out order whatever the seed


def test_gestures_options():
    d, _, s_te = example_data.gesture_split(
        DatasetSpec(kind="gestures", options={"window_s": 1.0, "overlap": 0.0, "test_subjects": [1, 2, 10]}))
    assert d.x_train.shape[1:] == (50, 1, 6) and set(s_te.tolist()) == {1, 2, 10}
    with pytest.raises(DatasetError, match="unknown subject"):
        load_dataset(DatasetSpec(kind="gestures", options={"test_subjects": [11]}))
    with pytest.raises(DatasetError, match="overlap"):
        load_dataset(DatasetSpec(kind="gestures", options={"overlap": 1.0}))
    with pytest.raises(DatasetError, match="takes no path"):
        load_dataset(DatasetSpec(kind="gestures", path="watch.npy"))
    with pytest.raises(DatasetError, match="not none or all"):
        load_dataset(DatasetSpec(kind="gestures", options={"test_subjects": list(range(1, 11))}))


def test_gestures_missing_package_names_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "seglearn" else real(name, *a))
    with pytest.raises(DatasetError) as err:
        load_dataset(DatasetSpec(kind="gestures"))
    assert "seglearn" in err.value.message and "pip install seglearn==1.2.5" in err.value.hint


# ---------------------------------------------------------------- example projects

EXAMPLES = sorted(p.parent.name for p in (REPO / "examples").glob("*/tinyml.yaml"))


def test_every_example_is_listed():
    assert EXAMPLES == ["digits", "fashion", "gestures", "kws"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_project_loads_and_names_real_things(name):
    from tinyml import zoo
    from tinyml.boards import load_board
    from tinyml.project import load_project

    project = load_project(REPO / "examples" / name / "tinyml.yaml")
    assert project.name == name
    assert (REPO / "examples" / name / "README.md").is_file()
    zoo.get_entry(project.model.zoo)
    for board in project.boards + project.emulate.boards:
        load_board(board)
    assert set(project.emulate.boards) <= set(project.boards)
    assert project.thresholds.min_agreement == 1.0
    # the dataset options are ones the loader accepts (the plan fails before loading otherwise)
    if project.dataset.kind == "kws_espeak":
        spec = DatasetSpec(kind="kws_espeak", test_fraction=project.dataset.test_fraction,
                           options=dict(project.dataset.options))
        plan = example_data._kws_plan(spec, None)
        assert plan.test_voices and set(plan.test_voices) < set(plan.voices)
    elif project.dataset.kind == "gestures":
        example_data._options(DatasetSpec(kind="gestures", options=dict(project.dataset.options)),
                              example_data._GESTURES_DEFAULTS)
    elif project.dataset.kind == "fashion_mnist":
        example_data._options(DatasetSpec(kind="fashion_mnist", options=dict(project.dataset.options)),
                              example_data._FASHION_DEFAULTS)

import numpy as np
import pytest

from tinyml.data import DatasetSpec, check_matches_model, load_dataset, spec_from_arg
from tinyml.errors import DatasetError


def test_digits_split_is_deterministic_and_stratified():
    a = load_dataset(DatasetSpec(kind="digits", seed=3))
    b = load_dataset(DatasetSpec(kind="digits", seed=3))
    c = load_dataset(DatasetSpec(kind="digits", seed=4))
    assert a.x_train.shape == (1437, 8, 8, 1) and a.x_test.shape == (360, 8, 8, 1)
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_test, c.y_test)
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    # stratified: each of the 10 classes has 35 or 36 test samples (360 / 10)
    assert set(np.bincount(a.y_test)) <= {35, 36, 37}
    assert a.num_classes == 10


def test_npz_uint8_images_are_scaled_and_get_a_channel(tmp_path):
    x = np.full((20, 4, 4), 255, np.uint8)
    y = np.array([0, 1] * 10)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = load_dataset(spec_from_arg(str(tmp_path / "d.npz")))
    assert ds.input_shape == (4, 4, 1)
    assert ds.x_train.max() == pytest.approx(1.0)
    assert len(ds.x_train) + len(ds.x_test) == 20


def test_npz_without_y_names_the_file_and_the_keys(tmp_path):
    np.savez(tmp_path / "bad.npz", x=np.zeros((5, 2)))
    with pytest.raises(DatasetError, match=r"bad.npz must contain arrays 'x' and 'y'; it has \['x'\]"):
        load_dataset(spec_from_arg(str(tmp_path / "bad.npz")))


def test_csv_with_header_and_named_label_column(tmp_path):
    rows = ["a,label,b"] + [f"{i},{'cat' if i % 2 else 'dog'},{i * 2}" for i in range(10)]
    (tmp_path / "d.csv").write_text("\n".join(rows))
    ds = load_dataset(spec_from_arg(str(tmp_path / "d.csv"), label_column="label"))
    assert ds.input_shape == (2,)
    assert ds.class_names == ["cat", "dog"]
    # feature b is always twice feature a: the label column was removed, not a feature
    x = np.concatenate([ds.x_train, ds.x_test])
    assert np.allclose(x[:, 1], 2 * x[:, 0])


def test_csv_bad_value_names_line(tmp_path):
    (tmp_path / "d.csv").write_text("1,2,0\n3,x,1\n1,2,0\n1,2,1\n")
    with pytest.raises(DatasetError, match=r"d.csv, line 2: a feature is not a number"):
        load_dataset(spec_from_arg(str(tmp_path / "d.csv")))


def test_image_folder(tmp_path):
    from PIL import Image
    for label, value in (("dark", 10), ("light", 240)):
        (tmp_path / label).mkdir()
        for i in range(4):
            Image.new("RGB", (10, 6), (value, value, value)).save(tmp_path / label / f"{i}.png")
    ds = load_dataset(spec_from_arg(str(tmp_path), image_size=(5, 7)))
    assert ds.input_shape == (5, 7, 3)
    assert ds.class_names == ["dark", "light"]
    x = np.concatenate([ds.x_train, ds.x_test]); y = np.concatenate([ds.y_train, ds.y_test])
    assert np.all(x[y == 1] > 0.9) and np.all(x[y == 0] < 0.1)


def test_unknown_dataset_argument():
    with pytest.raises(DatasetError, match="neither 'digits' nor an existing file"):
        spec_from_arg("/no/such/thing.npz")


def test_shape_mismatch_is_one_sentence():
    ds = load_dataset(DatasetSpec())
    with pytest.raises(DatasetError, match=r"shape \(8, 8, 1\), but the model m.keras expects \(49, 10, 1\)"):
        check_matches_model(ds, (None, 49, 10, 1), "m.keras")

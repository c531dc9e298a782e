import pytest

from tinyml.errors import ConfigError
from tinyml.project import load_project


def _write(tmp_path, text):
    p = tmp_path / "tinyml.yaml"
    p.write_text(text)
    return p


def test_unknown_field_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"tinyml.yaml: field model.epoch: unknown field"):
        load_project(_write(tmp_path, "name: x\nmodel: {zoo: digits_cnn, epoch: 3}\n"))


def test_bad_value_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"field emulate.samples: Input should be greater than or equal to 1"):
        load_project(_write(tmp_path, "name: x\nmodel: {zoo: digits_cnn}\nemulate: {samples: 0}\n"))


def test_model_needs_exactly_one_source(tmp_path):
    with pytest.raises(ConfigError, match="exactly one of 'zoo'"):
        load_project(_write(tmp_path, "name: x\nmodel: {zoo: digits_cnn, file: m.keras}\n"))


def test_missing_name_and_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="field name: required but missing"):
        load_project(_write(tmp_path, "model: {zoo: digits_cnn}\n"))
    with pytest.raises(ConfigError, match="is not valid YAML at line 3"):
        load_project(_write(tmp_path, "name: x\nmodel: [\n"))


def test_paths_are_relative_to_the_file(tmp_path):
    p = load_project(_write(tmp_path, "name: x\nmodel: {file: models/m.keras}\n"))
    assert p.path(p.model.file) == tmp_path.resolve() / "models" / "m.keras"
    assert str(p.build_path) == "build/x"
    # a directory means its tinyml.yaml
    assert load_project(tmp_path).name == "x"

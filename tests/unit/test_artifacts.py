import pytest

from tinyml.artifacts import atomic_dir, atomic_write_text, refuse_overwrite
from tinyml.errors import ConfigError


def test_atomic_dir_replaces_only_on_success(tmp_path):
    dest = tmp_path / "stage"
    with atomic_dir(dest) as tmp:
        (tmp / "a.txt").write_text("first")
    assert (dest / "a.txt").read_text() == "first"
    with pytest.raises(RuntimeError):
        with atomic_dir(dest) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("stage failed")
    assert (dest / "a.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage"]


def test_atomic_write_leaves_no_temp_on_error(tmp_path, monkeypatch):
    import tinyml.artifacts as artifacts
    target = tmp_path / "x.json"
    atomic_write_text(target, "ok")

    def failing_replace(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(artifacts.os, "replace", failing_replace)
    with pytest.raises(OSError):
        atomic_write_text(target, "new content")
    assert target.read_text() == "ok"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_refuse_overwrite(tmp_path):
    f = tmp_path / "user.c"
    f.write_text("mine")
    with pytest.raises(ConfigError, match="pass --force"):
        refuse_overwrite(f, force=False)
    refuse_overwrite(f, force=True)

import subprocess
import sys

import pytest
from click.testing import CliRunner

from tinyml.cli import COMMANDS, cli


def run(*args):
    return subprocess.run([sys.executable, "-m", "tinyml", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_stage_commands_and_each_has_an_example():
    runner = CliRunner()
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("train", "import", "prune", "quantize", "analyze"):
        assert name in result.output
    for name in COMMANDS:
        sub = runner.invoke(cli, [name, "--help"])
        assert sub.exit_code == 0, name
        assert "Example" in sub.output, f"`tinyml {name} --help` has no example"


def test_help_does_not_import_tensorflow():
    code = ("import sys; from tinyml.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TF' if 'tensorflow' in sys.modules else 'NO_TF')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().endswith("NO_TF")


def test_missing_model_is_one_line_without_traceback(tmp_path):
    r = run("analyze", str(tmp_path / "none.tflite"))
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {tmp_path / 'none.tflite'}: no such model file."


def test_debug_shows_traceback(tmp_path):
    r = run("--debug", "analyze", str(tmp_path / "none.tflite"))
    assert r.returncode == 2 and "Traceback" in r.stderr


@pytest.mark.slow
def test_unknown_zoo_name_suggests(tmp_path):
    r = run("train", "--zoo", "resnet", "-B", str(tmp_path))
    assert r.returncode == 2
    assert "unknown zoo model 'resnet'" in r.stderr and "resnet8" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("error, message, code", [
    (PermissionError(13, "Permission denied", "/srv/build/model"), "error: /srv/build/model: Permission denied.", 2),
    (OSError(28, "No space left on device", "/srv/build/x.json"), "error: /srv/build/x.json: No space left on device.", 2),
    (RuntimeError("boom"), "error: unexpected RuntimeError: boom (run with --debug for the traceback).", 3),
])
def test_os_errors_and_surprises_are_one_sentence(monkeypatch, capsys, error, message, code):
    import tinyml.boards
    from tinyml.cli import main

    def fail(*_a, **_k):
        raise error

    monkeypatch.setattr(tinyml.boards, "list_boards", fail)
    with pytest.raises(SystemExit) as done:
        main(["boards", "list"])
    err = capsys.readouterr().err
    assert done.value.code == code and err.strip() == message
    with pytest.raises(SystemExit):
        main(["--debug", "boards", "list"])
    assert "Traceback" in capsys.readouterr().err

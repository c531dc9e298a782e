"""Without a TFLM tree: every command that needs TFLM fails with one clear
instruction (exit 2, no traceback, nothing written), and the default runtime
`auto` renders with the aot runtime and says so in one line."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tinyml.cli import main

MODEL_CMDS = [
    ["firmware", "--board", "mps2-an386", "--runtime", "tflm"],
    ["emulate", "--board", "mps2-an386", "--runtime", "tflm"],
    ["bench", "--board", "mps2-an386", "--runtime", "tflm"],
    ["build", "--board", "mps2-an386", "--runtime", "tflm"],
]


@pytest.fixture
def no_tree(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYML_TFLM_DIR", raising=False)
    return tmp_path


@dataclass
class Result:
    exit_code: int
    output: str


def invoke(capsys, argv: list[str]) -> Result:
    """The real entry point (its error handling included), as the shell runs it."""
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, err = capsys.readouterr()
    return Result(done.value.code, out + err)


def _assert_instruction(res, build_dir):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert "no TensorFlow Lite Micro tree found" in res.output
    assert "tinyml tflm fetch" in res.output and "tinyml tflm fetch --from DIR" in res.output
    assert "TINYML_TFLM_DIR" in res.output
    written = [p for p in build_dir.rglob("*") if p.is_file()] if build_dir.exists() else []
    assert written == [], written


@pytest.mark.parametrize("args", [["tflm", "info"], ["tflm", "build", "--board", "mps2-an386"]],
                         ids=["tflm-info", "tflm-build"])
def test_tflm_commands_say_how_to_get_a_tree(no_tree, capsys, args):
    res = invoke(capsys, args)
    _assert_instruction(res, no_tree / "cache")


@pytest.mark.parametrize("args", MODEL_CMDS, ids=[a[0] for a in MODEL_CMDS])
def test_runtime_tflm_says_how_to_get_a_tree(no_tree, capsys, ad01_model, args):
    build_dir = no_tree / "build"
    model_arg = ["--model", str(ad01_model)] if args[0] in ("firmware", "build") \
        else [str(ad01_model)]
    if args[0] == "build":
        model_arg = []
    res = invoke(capsys, [*args, *model_arg, "-B", str(build_dir)])
    _assert_instruction(res, build_dir)


def test_runtime_auto_falls_back_to_aot_in_one_line(no_tree, capsys, ad01_model):
    build_dir = no_tree / "build"
    res = invoke(capsys, ["firmware", "--board", "mps2-an386", "--model", str(ad01_model),
                                   "--samples", "2", "-B", str(build_dir)])
    assert res.exit_code == 0, res.output
    notes = [line for line in res.output.splitlines() if "aot runtime is used" in line]
    assert notes == ["firmware: no TensorFlow Lite Micro tree found, so the aot runtime is used "
                     "(`tinyml tflm fetch` gets one)"]
    assert (build_dir / "firmware" / "mps2-an386-aot" / "tinyml_firmware.json").is_file()
    assert not (build_dir / "firmware" / "mps2-an386-tflm").exists()


@pytest.fixture
def ad01_model(shared_models):
    return shared_models / "ad01_int8.tflite"

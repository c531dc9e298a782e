"""examples/bench/mlperf_tiny/run_bench.py: models resolved from a folder (the
shared MLPerf Tiny models, never copied), the commands it plans, the tables."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "examples" / "bench" / "mlperf_tiny" / "run_bench.py"


def _load():
    spec = importlib.util.spec_from_file_location("run_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plan_for_the_shared_models(shared_models, tmp_path):
    rb = _load()
    config = rb.load_config(SCRIPT.parent / "bench.yaml")
    models = rb.resolve_models([str(shared_models)], config, [])
    assert {n: p.name for n, p in models.items()} == {
        "kws": "kws_ref_model.tflite", "vww": "vww_96_int8.tflite",
        "ic": "pretrainedResnet_quant.tflite", "ad": "ad01_int8.tflite"}
    assert all(p.parent == shared_models for p in models.values())
    steps = rb.plan(models, config["check_boards"], config["bench_boards"], ["aot"], tmp_path)
    checks = [s for s in steps if s["kind"] == "check"]
    benches = [s for s in steps if s["kind"] == "bench"]
    assert len(checks) == 4 * len(config["check_boards"]) and len(config["check_boards"]) >= 3
    assert len(benches) == len(config["bench_boards"]) >= 2
    assert checks[0]["argv"][:4] == [sys.executable, "-m", "tinyml", "check"]
    assert checks[0]["argv"][4:] == [str(models["kws"]), "--board", config["check_boards"][0],
                                     "--runtime", "aot", "--json"]
    assert benches[0]["argv"][3:8] == ["bench", *map(str, models.values())]
    from tinyml.boards import load_board
    for board in config["check_boards"] + config["bench_boards"]:
        load_board(board)


def test_missing_models_name_the_files_and_where_they_come_from(tmp_path):
    rb = _load()
    config = rb.load_config(SCRIPT.parent / "bench.yaml")
    with pytest.raises(SystemExit, match="lacks kws_ref_model.tflite .*keyword_spotting/trained_models"):
        rb.resolve_models([str(tmp_path)], config, ["kws"])
    with pytest.raises(SystemExit, match="unknown model name"):
        rb.resolve_models([str(tmp_path)], config, ["resnet"])


def test_dry_run_prints_commands(shared_models, capsys):
    rb = _load()
    assert rb.main([str(shared_models), "--model", "ad", "--check-board", "microbit", "--bench-board", "mps2-an386",
                    "--dry-run"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert "tinyml check" in lines[0] and "ad01_int8.tflite --board microbit" in lines[0]
    assert "tinyml bench" in lines[1] and "--board mps2-an386 --runtime aot --json" in lines[1]


def test_markdown_tables():
    rb = _load()
    results = [
        {"kind": "check", "model": "ad", "board": "microbit", "runtime": "aot", "status": "does not fit"},
        {"kind": "check", "model": "ad", "board": "nucleo-l4r5zi", "runtime": "aot", "status": "fits"},
        {"kind": "bench", "board": "mps2-an386", "runtimes": ["aot"], "status": "ok", "log": "x.log",
         "output": {"machine": "mps2-an386", "stand_in": False, "rows": [
             {"model": "/m/ad01_int8.tflite", "runtime": "aot", "status": "ok", "per_inference": 867382,
              "clock_unit": "instructions", "flash_bytes": 290928, "ram_bytes": 9904, "arena_bytes": 272,
              "agreement": {"matching": 4, "total": 4}}]}},
    ]
    text = rb.markdown(results, ["ad"])
    assert "| model | runtime | microbit | nucleo-l4r5zi |" in text
    assert "| ad | aot | does not fit | fits |" in text
    assert "| ad01_int8 | aot | 867,382 | instructions | 290,928 | 9,904 | 272 | 4/4 |" in text

"""The report reads artifacts only; here they are written by hand."""

import json

import pytest

from tinyml.artifacts import write_json
from tinyml.report import energy_estimate_uj, report


def test_energy_estimate_by_hand():
    # 1e6 cycles at 100 MHz = 10 ms; 100 uA/MHz x 100 MHz = 10 mA; x 3 V = 30 mW -> 300 uJ
    assert energy_estimate_uj(1e6, 100e6, 100, 3.0) == pytest.approx(300.0)


def test_report_from_artifacts(tmp_path):
    write_json(tmp_path / "model" / "metrics.json", {"zoo": "digits_cnn", "params": 1234, "accuracy": 0.97})
    write_json(tmp_path / "quantize" / "metrics.json", {
        "float_bytes": 40000, "int8_bytes": 15000, "float_tflite": {"accuracy": 0.97},
        "int8_tflite": {"accuracy": 0.96}, "int8_tflm": {"accuracy": 0.96}})
    write_json(tmp_path / "analyze" / "analysis.json", {
        "macs": 1000, "opcode_counts": {"CONV_2D": 1},
        "operators": [{"index": 0, "opcode": "CONV_2D", "macs": 1000, "outputs": [{"shape": [1, 4, 4, 2]}]}],
        "live_bytes_per_op": [96]})
    write_json(tmp_path / "emulate" / "mps2-an386-qemu.json", {
        "board": "mps2-an386", "machine": "mps2-an386", "runtime": "aot", "clock_unit": "instructions",
        "samples": [{"index": 0, "ticks": 100}, {"index": 1, "ticks": 120}],
        "agreement": {"matching": 2, "total": 2}, "accuracy": {"device": 0.5, "host_int8": 0.5},
        "latency": {"unit": "instructions", "median": 110, "estimated_ms_at_clock": 0.0044},
        "arena_bytes": 96, "layers": [{"op_index": 0, "opcode": "CONV_2D", "ticks": 90}]})
    result = report(tmp_path)
    md = (result.out_dir / "report.md").read_text()
    assert "| device mps2-an386-qemu | 50.00% | 2/2 bit-exact; host int8 on the same samples: 50.00% |" in md
    assert "| TFLite int8, tflite-micro | 96.00% |  |" in md
    assert set(result.data["plots"]) == {"accuracy_vs_size", "per_layer", "arena"}
    page = (result.out_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "src='http" not in page
    assert json.loads((result.out_dir / "report.json").read_text())["emulations"]["mps2-an386-qemu"]["arena_bytes"] == 96
    first = (result.out_dir / "arena.png").read_bytes()
    assert report(tmp_path).out_dir.joinpath("arena.png").read_bytes() == first  # reproducible


def test_missing_build_dir(tmp_path):
    from tinyml.errors import ConfigError
    with pytest.raises(ConfigError, match="does not exist"):
        report(tmp_path / "nope")


def test_report_says_what_each_emulator_clock_counts(tmp_path):
    common = {"runtime": "aot", "samples": [{"index": 0, "ticks": 100}], "agreement": {"matching": 1, "total": 1},
              "accuracy": {"device": 1.0, "host_int8": 1.0}, "arena_bytes": 96, "layers": []}
    write_json(tmp_path / "emulate" / "mps2-an386-qemu.json", {
        **common, "board": "mps2-an386", "machine": "mps2-an386", "emulator": "qemu", "clock_unit": "instructions",
        "latency": {"unit": "instructions", "median": 100, "estimated_ms_at_clock": 0.004}})
    write_json(tmp_path / "emulate" / "stm32f4-discovery-renode.json", {
        **common, "board": "stm32f4-discovery", "machine": "@platforms/boards/stm32f4_discovery.repl",
        "emulator": "renode", "clock_unit": "cycles",
        "latency": {"unit": "cycles", "median": 100, "estimated_ms_at_clock": 0.0006}})
    md = (report(tmp_path).out_dir / "report.md").read_text()
    assert ("| stm32f4-discovery-renode | @platforms/boards/stm32f4_discovery.repl | cycles (executed "
            "instructions: Renode's DWT at MIPS x 10^6 Hz, not core cycles) |") in md
    assert "| mps2-an386-qemu | mps2-an386 | instructions (guest instructions, QEMU -icount) |" in md

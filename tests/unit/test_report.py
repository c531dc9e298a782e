"""The report reads artifacts only; here they are written by hand."""

import json

import pytest

from tinyml.artifacts import write_json
from tinyml.report import energy_estimate_uj, report


def test_energy_estimate_by_hand():
    # 1e6 cycles at 100 MHz = 10 ms; 100 uA/MHz x 100 MHz = 10 mA; x 3 V = 30 mW -> 300 uJ
    assert energy_estimate_uj(1e6, 100e6, 100, 3.0) == pytest.approx(300.0)


def _artifacts(tmp_path):
    write_json(tmp_path / "model" / "metrics.json", {"zoo": "digits_cnn", "params": 1234, "accuracy": 0.97})
    write_json(tmp_path / "quantize" / "metrics.json", {
        "float_bytes": 40000, "int8_bytes": 15000, "float_tflite": {"accuracy": 0.97}, "test_samples": 360,
        "int8_tflite": {"accuracy": 0.96}, "int8_tflm": {"accuracy": 0.96}})
    write_json(tmp_path / "analyze" / "analysis.json", {
        "macs": 1000, "opcode_counts": {"CONV_2D": 1, "SOFTMAX": 1},
        "operators": [{"index": 0, "opcode": "CONV_2D", "macs": 1000, "outputs": [{"shape": [1, 4, 4, 2]}]},
                      {"index": 1, "opcode": "SOFTMAX", "macs": 0, "outputs": [{"shape": [1, 10]}]}],
        "live_bytes_per_op": [96, 40]})
    common = {"runtime": "aot", "clock_unit": "instructions", "emulator": "qemu",
              "agreement": {"matching": 2, "total": 2}, "accuracy": {"device": 0.5, "host_int8": 0.5},
              "arena_bytes": 96, "layers": []}
    # an even number of samples: the median is one of them (median_low), an integer
    write_json(tmp_path / "emulate" / "mps2-an386-qemu.json", {
        **common, "board": "mps2-an386", "machine": "mps2-an386",
        "samples": [{"index": 0, "ticks": 900_088}, {"index": 1, "ticks": 900_090}],
        "latency": {"unit": "instructions", "median": 900_089.0, "estimated_ms_at_clock": 36.0}})
    write_json(tmp_path / "emulate" / "stm32f4-discovery-qemu.json", {
        **common, "board": "stm32f4-discovery", "machine": "netduinoplus2", "stand_in": True,
        "samples": [{"index": 0, "ticks": 1_000_000}], "latency": {"unit": "instructions", "median": 1_000_000}})
    # the per-layer profile: a record of its own, never in the latency table
    write_json(tmp_path / "emulate" / "mps2-an386-qemu-layers.json", {
        **common, "board": "mps2-an386", "machine": "mps2-an386", "per_layer": True,
        "samples": [{"index": 0, "ticks": 999_999}], "latency": {"unit": "instructions", "median": 999_999},
        "layers": [{"sample": 0, "op_index": 0, "opcode": "CONV_2D", "ticks": 2500},
                   {"sample": 0, "op_index": 1, "opcode": "SOFTMAX", "ticks": 300}]})


def test_report_from_artifacts(tmp_path):
    _artifacts(tmp_path)
    result = report(tmp_path)
    md = (result.out_dir / "report.md").read_text()
    assert ("| device mps2-an386-qemu | 50.00% | the first 2 held-out | 2/2 bit-exact; host int8 on the same "
            "samples: 50.00% |") in md
    assert "| TFLite int8, tflite-micro | 96.00% | all 360 held-out |  |" in md
    assert set(result.data["plots"]) == {"accuracy_vs_size", "per_layer", "arena"}
    page = (result.out_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "src='http" not in page
    assert json.loads((result.out_dir / "report.json").read_text())["emulations"]["mps2-an386-qemu"]["arena_bytes"] == 96
    first = (result.out_dir / "arena.png").read_bytes()
    assert report(tmp_path).out_dir.joinpath("arena.png").read_bytes() == first  # reproducible


def test_counts_are_integers_and_the_profile_stays_out_of_the_latency_table(tmp_path):
    _artifacts(tmp_path)
    md = (report(tmp_path).out_dir / "report.md").read_text()
    assert "900,089.0" not in md and "| 900,089 |" in md
    assert "mps2-an386-qemu-layers |" not in md.split("## Per layer")[0]
    # per layer: measured instructions and instructions per MAC; SOFTMAX has no MACs
    assert "| 0 | CONV_2D | 1x4x4x2 | 1,000 | 2,500 | 2.50 |" in md
    assert "| 1 | SOFTMAX | 1x10 | 0 | 300 | – |" in md


def test_energy_on_every_board_says_where_the_current_comes_from(tmp_path):
    _artifacts(tmp_path)
    data = report(tmp_path).data
    f4 = data["emulations"]["stm32f4-discovery-qemu"]["energy_estimate"]
    # DS8626: 238 uA/MHz at 3.3 V; 1e6 cycles: 1e6 x 238e-12 A s x 3.3 V = 785.4 uJ (the clock cancels)
    assert f4["kind"] == "datasheet" and f4["uj_per_inference"] == pytest.approx(1e6 * 238e-12 * 3.3 * 1e6)
    assert "DS8626" in f4["source"]
    mps2 = data["emulations"]["mps2-an386-qemu"]["energy_estimate"]
    assert mps2["kind"] == "core typical (estimate)" and "cortex-m4" in mps2["source"]
    assert mps2["uj_per_inference"] > 0
    md = (report(tmp_path).out_dir / "report.md").read_text()
    assert "µJ/inference" in md and "| – | – |" not in md.split("## Latency")[1].split("##")[0]


def test_fit_table_shows_ram_used_and_reserve_apart_and_prefers_the_linked_elf(tmp_path):
    _artifacts(tmp_path)
    sha = "ab" * 32
    check = {"board": "mps2-an386", "runtime": "aot", "basis": "estimate", "model_sha256": sha, "fits": True,
             "flash": {"available_bytes": 4194304, "used_bytes": 18244, "reserve_bytes": 0, "items": []},
             "ram": {"available_bytes": 4194304, "used_bytes": 10720, "reserve_bytes": 419431, "items": []}}
    write_json(tmp_path / "check" / "mps2-an386-aot.json", check)
    md = (report(tmp_path).out_dir / "report.md").read_text()
    assert ("| mps2-an386 | aot | estimate (before a build) | 18,244 / 4,194,304 | 10,720 | 419,431 | 4,194,304 "
            "| 3,764,153 | fits |") in md
    # a device firmware built from the same model afterwards: its linked figures replace the estimate
    fw = tmp_path / "firmware" / "mps2-an386-aot"
    write_json(fw / "tinyml_firmware.json", {"model_sha256": sha})
    write_json(fw / "build" / "size.json", {"flash_bytes": 17988, "ram_bytes": 10496, "split": {}})
    md = (report(tmp_path).out_dir / "report.md").read_text()
    assert ("| mps2-an386 | aot | linked ELF (built after the check) | 17,988 / 4,194,304 | 10,496 | 419,431 "
            "| 4,194,304 | 3,764,377 | fits |") in md
    # ... but not one built from another model
    write_json(fw / "tinyml_firmware.json", {"model_sha256": "0" * 64})
    assert "estimate (before a build)" in (report(tmp_path).out_dir / "report.md").read_text()


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

"""tinyml bench on mps2-an386: the four MLPerf Tiny models, bit-exact, deterministic."""

from __future__ import annotations

import json

import pytest

from tinyml.bench import bench
from tinyml.interpreters import run_tflm
from tinyml.firmware import benchmark_pattern
from tinyml.tflite_model import load_model

pytestmark = [pytest.mark.needs_toolchain, pytest.mark.needs_qemu]

MODELS = ["ad01_int8", "kws_ref_model", "vww_96_int8", "pretrainedResnet_quant"]

# BENCHMARKS.md "Reference outputs for the input above"
REFERENCE_HEADS = {
    "ad01_int8": [-20, 13, 21, 44, 57, 70, 49, 47],
    "kws_ref_model": [-128, -128, -128, -120, -128, -128, -128, -128],
    "vww_96_int8": [122, -122],
    "pretrainedResnet_quant": [-128, -128, -85, -128, -128, -128, -117, -128],
}


def test_four_shared_models_agree_bit_for_bit(shared_models, tmp_path):
    result = bench([shared_models / f"{m}.tflite" for m in MODELS], "mps2-an386", build_dir=tmp_path, samples=2)
    assert [r["model"] for r in result.rows] == MODELS
    for row in result.rows:
        assert row["status"] == "ok", row
        assert row["agreement"] == {"matching": 2, "total": 2, "ratio": 1.0, "max_abs_diff": 0}, row["model"]
        assert row["pattern_output_head"] == REFERENCE_HEADS[row["model"]][:8]
        assert row["clock_unit"] == "instructions" and row["per_inference"] > 100_000
        assert row["flash_bytes"] == row["model_flash_bytes"] + row["runtime_flash_bytes"] + \
            row["application_flash_bytes"]
        assert row["arena_bytes"] > 0
    saved = json.loads(result.path.read_text())
    assert saved["rows"] == json.loads(json.dumps(result.rows))
    # the ad model's full reference output (640 values summing to 7829)
    ad = shared_models / "ad01_int8.tflite"
    ref = run_tflm(ad, benchmark_pattern(640).reshape(1, 640))[0]
    assert int(ref.astype(int).sum()) == 7829


def test_bench_is_deterministic_and_says_when_tflm_is_missing(shared_models, tmp_path):
    model = shared_models / "ad01_int8.tflite"
    one = bench([model], "mps2-an386", runtimes=["aot", "tflm"], build_dir=tmp_path / "one", samples=2)
    two = bench([model], "mps2-an386", runtimes=["aot"], build_dir=tmp_path / "two", samples=2)
    a, t = one.rows
    assert a["status"] == "ok" and t["status"] in ("ok", "unavailable")
    if t["status"] == "unavailable":                 # no TFLM tree on this machine: said, not hidden
        assert "TensorFlow Lite Micro" in t["reason"] or "tflm" in t["reason"].lower()
    b = two.rows[0]
    for key in ("per_inference", "per_inference_median", "flash_bytes", "ram_bytes", "arena_bytes", "elf_sha256"):
        assert a[key] == b[key], key


def test_cli_bench_json(shared_models, tmp_path, capsys):
    from tinyml.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["bench", str(shared_models / "ad01_int8.tflite"), "--board", "mps2-an386", "--samples", "1",
              "-B", str(tmp_path), "--json"])
    assert exc.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["board"] == "mps2-an386" and out["rows"][0]["agreement"]["ratio"] == 1.0

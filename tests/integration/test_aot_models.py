"""The four MLPerf Tiny models on the aot runtime: bit-exact on the host, on an
emulated Cortex-M4 (SMLAD path) and Cortex-M3 (portable path), and clean under
arm-none-eabi-gcc -Wall -Wextra -Werror for Cortex-M4 and Cortex-M0+."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import MLPERF_MODELS

pytestmark = pytest.mark.needs_toolchain

# First outputs for the input byte i = (i*37+11) & 0xFF, from BENCHMARKS.md
# (identical for TFLite Micro with reference kernels and with CMSIS-NN).
REFERENCE_OUTPUTS = {
    "ad01_int8": [-20, 13, 21, 44, 57, 70, 49, 47],
    "kws_ref_model": [-128, -128, -128, -120, -128, -128, -128, -128, -128, -128, -128, 120],
    "vww_96_int8": [122, -122],
    "pretrainedResnet_quant": [-128, -128, -85, -128, -128, -128, -117, -128, 74, -128],
}


def _benchmark_input(shape) -> np.ndarray:
    n = int(np.prod(shape))
    return ((np.arange(n) * 37 + 11) & 0xFF).astype(np.uint8).view(np.int8).reshape(shape)


@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_shared_model_bit_exact_on_host(name, shared_models, tmp_path):
    from tinyml.interpreters import tflm_arena_bytes
    from tinyml.verify import verify

    path = shared_models / f"{name}.tflite"
    result = verify(path, tmp_path, samples=50, seed=7, compare_litert=False)
    tflm = result.agreements[0]
    assert tflm.reference == "tflite-micro"
    assert (tflm.identical_samples, tflm.samples, tflm.mismatched_bytes) == (50, 50, 0)
    assert result.arena_bytes <= tflm_arena_bytes(path)
    print(f"{name}: 50/50 bit-exact, arena {result.arena_bytes} B (tflite-micro {result.tflm_arena_bytes} B)")


def test_per_layer_agreement_on_kws(shared_models, tmp_path):
    from tinyml.verify import verify

    result = verify(shared_models / "kws_ref_model.tflite", tmp_path, samples=5, per_layer=True)
    assert result.first_differing_op is None
    assert [la.op_index for la in result.per_layer] == list(range(13))
    assert all(la.identical_samples == 5 for la in result.per_layer)


@pytest.mark.parametrize("flags", [
    ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    ["-mcpu=cortex-m0plus", "-mthumb"],
], ids=["cortex-m4", "cortex-m0plus"])
def test_cross_compiles_without_warnings(flags, shared_models, tmp_path):
    from tinyml import proc
    from tinyml.runtimes.aot import generate

    gcc = proc.require_tool("arm-none-eabi-gcc", "install gcc-arm-none-eabi")
    for name in ("kws_ref_model", "pretrainedResnet_quant"):
        p = generate(shared_models / f"{name}.tflite", tmp_path / name)
        for src in p.sources:
            proc.run([gcc, *flags, "-Os", "-Wall", "-Wextra", "-Werror", "-std=c99",
                      *[f"-I{p.out_dir / d}" for d in p.include_dirs], "-c", p.out_dir / src,
                      "-o", tmp_path / f"{name}-{src.stem}.o"], log_path=tmp_path / f"{name}-{src.stem}.log")


@pytest.mark.needs_qemu
@pytest.mark.parametrize("core, names", [
    ("cortex-m4", ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant"]),
    ("cortex-m3", ["kws_ref_model"]),
])
def test_bit_exact_on_emulated_cortex_m(core, names, shared_models, tmp_path):
    from tinyml.interpreters import run_tflm
    from tinyml.runtimes.aot import generate, selftest
    from tinyml.tflite_model import load_model

    for name in names:
        path = shared_models / f"{name}.tflite"
        shape = load_model(path).input_tensors[0].shape
        x = np.concatenate([_benchmark_input(shape)[None],
                            np.random.default_rng(3).integers(-128, 128, size=(2, *shape), dtype=np.int8)])
        p = generate(path, tmp_path / name / "project")
        elf = selftest.build(p, x, tmp_path / name / "selftest.elf", core=core,
                             log_path=tmp_path / name / "build.log")
        run = selftest.run(elf, core=core, output_bytes=p.output.size_bytes, samples=len(x),
                           log_path=tmp_path / name / "qemu.log")
        ref = np.ascontiguousarray(run_tflm(path, x)).reshape(len(x), -1).view(np.uint8)
        assert (run.outputs == ref).all(), f"{name} on {core} differs from tflite-micro"
        want = REFERENCE_OUTPUTS[name]
        assert run.outputs[0].view(np.int8)[:len(want)].tolist() == want
        print(f"{name} on {core}: bit-exact, {run.instructions[0]:,} instructions per inference")

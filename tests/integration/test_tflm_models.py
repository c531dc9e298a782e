"""The tflm runtime end to end: the four MLPerf Tiny models built with TFLite
Micro + CMSIS-NN for mps2-an386 (Cortex-M4F), run in QEMU, bit-exact with the
Python tflite-micro interpreter and with the aot runtime; the TFLM library is
built once and reused; `tinyml bench` prints both runtimes side by side.

Needs a TFLM tree (TINYML_TFLM_DIR or `tinyml tflm fetch`). The library goes
to $TINYML_CACHE_DIR when that is set (so a persistent cache is reused, as the
tool itself would), otherwise into this session's temporary directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MLPERF_MODELS

# One xdist worker runs the whole module (make test: --dist loadgroup): the module-scoped
# `runs` fixture builds and runs 8 firmwares, which a second worker would repeat.
pytestmark = [pytest.mark.needs_tflm, pytest.mark.needs_toolchain, pytest.mark.needs_qemu,
              pytest.mark.slow, pytest.mark.xdist_group("tflm_models")]

BOARD = "mps2-an386"
# BENCHMARKS.md: outputs for the input byte i = (i*37+11) & 0xFF, and TFLM +
# CMSIS-NN instructions per inference on the same machine.
REFERENCE_OUTPUTS = {
    "ad01_int8": [-20, 13, 21, 44, 57, 70, 49, 47],
    "kws_ref_model": [-128, -128, -128, -120, -128, -128, -128, -128, -128, -128, -128, 120],
    "vww_96_int8": [122, -122],
    "pretrainedResnet_quant": [-128, -128, -85, -128, -128, -128, -117, -128, 74, -128],
}
BENCHMARK_INSTRUCTIONS = {"ad01_int8": 583_273, "kws_ref_model": 7_698_267, "vww_96_int8": 24_102_800,
                          "pretrainedResnet_quant": 29_862_130}


@pytest.fixture(scope="module")
def tflm_env(tmp_path_factory):
    """TINYML_TFLM_DIR pinned to the tree found now; the library cache as the docstring says."""
    from tinyml.runtimes.tflm import locate_tree

    tree = locate_tree(None)
    assert tree is not None
    mp = pytest.MonkeyPatch()
    mp.setenv("TINYML_TFLM_DIR", str(tree))
    if not os.environ.get("TINYML_CACHE_DIR"):
        mp.setenv("TINYML_CACHE_DIR", str(tmp_path_factory.mktemp("tinyml-cache")))
    yield tree
    mp.undo()


@pytest.fixture(scope="module")
def runs(tflm_env, shared_models, tmp_path_factory):
    """Each model, each runtime: rendered, built and run in QEMU with the same 3 inputs."""
    from tinyml.build import build_project
    from tinyml.emulate import run_project
    from tinyml.firmware import _load_board, bench_samples, render_firmware
    from tinyml.runtimes.tflm.library import cached_libraries

    board = _load_board(BOARD, None)
    root = tmp_path_factory.mktemp("tflm-runs")
    out = {"libraries": []}
    for name in MLPERF_MODELS:
        path = shared_models / f"{name}.tflite"
        samples = bench_samples(path, 3, seed=11)
        for runtime in ("tflm", "aot"):
            project = render_firmware(path, board, root / f"{name}-{runtime}", runtime=runtime,
                                      variant="emulator", samples=samples)
            built = build_project(project.dir)
            harness, _ = run_project(project.dir, timeout_s=600)
            out[name, runtime] = {"project": project, "size": built.size, "harness": harness,
                                  "inputs": samples.inputs}
            if runtime == "tflm":
                libs = cached_libraries()
                out["libraries"].append([(lib["key"], lib["library_sha256"],
                                          os.stat(lib["path"]).st_mtime_ns) for lib in libs])
    return out


@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_tflm_firmware_agrees_with_tflite_micro_and_aot(name, runs, shared_models):
    from tinyml.interpreters import run_tflm

    tflm, aot = runs[name, "tflm"], runs[name, "aot"]
    h = tflm["harness"]
    assert h.runtime == "tflm" and h.clock_unit == "instructions" and h.complete and h.failure is None
    got = np.stack([np.frombuffer(s.output, dtype=np.int8) for s in h.samples])
    host = run_tflm(shared_models / f"{name}.tflite", tflm["inputs"])
    assert np.array_equal(got, host.reshape(got.shape)), "TFLM firmware differs from tflite-micro"
    assert got[0][:len(REFERENCE_OUTPUTS[name])].tolist() == REFERENCE_OUTPUTS[name]
    aot_out = np.stack([np.frombuffer(s.output, dtype=np.int8) for s in aot["harness"].samples])
    assert np.array_equal(got, aot_out), "the tflm and aot runtimes differ"
    # the arena the interpreter used fits the one it was given and the host's upper bound
    assert 0 < h.arena_bytes <= tflm["project"].arena_bytes
    print(f"{name}: tflm {h.samples[0].ticks:,} instructions (BENCHMARKS.md "
          f"{BENCHMARK_INSTRUCTIONS[name]:,}), arena {h.arena_bytes:,} B; aot "
          f"{aot['harness'].samples[0].ticks:,}")


@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_instruction_counts_reproduce_the_tflm_benchmark(name, runs):
    """Same TFLM, flags and counting as BENCHMARKS.md: within 2 % (we also count
    copying the input and output, and TFLM's Aug 2026 main moved a little)."""
    ticks = runs[name, "tflm"]["harness"].samples[0].ticks
    assert abs(ticks - BENCHMARK_INSTRUCTIONS[name]) <= 0.02 * BENCHMARK_INSTRUCTIONS[name], ticks


def test_the_library_is_built_once_and_reused(runs):
    """Four tflm firmwares (four models): one library, never rebuilt or rewritten."""
    snapshots = runs["libraries"]
    first = snapshots[0]
    assert len(first) >= 1
    assert all(snap == first for snap in snapshots[1:])
    key = runs["ad01_int8", "tflm"]["project"].dir
    projects = [runs[name, "tflm"]["project"].dir / "tflm" / "libtflm.a" for name in MLPERF_MODELS]
    blobs = {p.read_bytes() for p in projects}
    assert len(blobs) == 1, "every project links the same cached library"
    assert key.is_dir()


def test_rendering_is_deterministic_and_self_contained(runs, tmp_path):
    from tinyml.firmware import _load_board, render_firmware

    first = runs["kws_ref_model", "tflm"]
    project = first["project"]
    again = render_firmware(Path(project.model), _load_board(BOARD, None), tmp_path / "again",
                            runtime="tflm", variant="emulator", samples=project.samples())
    files = sorted(p.relative_to(project.dir).as_posix() for p in project.dir.rglob("*")
                   if p.is_file() and "build" not in p.relative_to(project.dir).parts[:1])
    files = [f for f in files if not f.endswith(".log")]
    for rel in files:
        assert (again.dir / rel).read_bytes() == (project.dir / rel).read_bytes(), rel
    text = "\n".join((project.dir / rel).read_text(errors="replace") for rel in files
                     if not rel.endswith((".a", ".npz")))
    # no path of this machine's TFLM tree or of the build folders; the manifest records the model file
    # it was made from, which may live anywhere (CI's clone and ../shared may be under /tmp)
    assert str(os.environ["TINYML_TFLM_DIR"]) not in text and str(Path(os.environ["TINYML_TFLM_DIR"]).resolve()) \
        not in text
    assert str(project.dir) not in text and str(project.dir.resolve()) not in text and str(tmp_path) not in text
    assert (project.dir / "tflm/LICENSE").is_file()
    assert (project.dir / "tflm/third_party/cmsis_nn/LICENSE").is_file()
    resolver = (project.dir / "model/tflm_model.cc").read_text()
    for method in ("AddConv2D", "AddDepthwiseConv2D", "AddAveragePool2D", "AddReshape",
                   "AddFullyConnected", "AddSoftmax"):
        assert f"resolver.{method}()" in resolver
    assert resolver.count("resolver.Add") == 6


def test_per_layer_profile_covers_every_operator(tflm_env, shared_models, tmp_path):
    from tinyml.emulate import emulate

    result = emulate(tmp_path, BOARD, model=shared_models / "kws_ref_model.tflite", samples=1,
                     runtime="tflm", per_layer=True)
    layers = result.harness.layers
    assert [la.op_index for la in layers] == list(range(13))
    assert layers[0].opcode == "CONV_2D" and layers[-1].opcode == "SOFTMAX"
    total = result.harness.samples[0].ticks
    assert 0.95 * total <= sum(la.ticks for la in layers) <= total
    assert result.record["agreement"]["ratio"] == 1.0


def test_bench_shows_both_runtimes_side_by_side(tflm_env, shared_models, tmp_path):
    from click.testing import CliRunner

    from tinyml.cli import cli

    res = CliRunner().invoke(cli, ["bench", str(shared_models / "ad01_int8.tflite"), "--board", BOARD,
                                   "--runtime", "tflm", "--runtime", "aot", "--samples", "2",
                                   "-B", str(tmp_path), "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["rows"]
    assert [r["runtime"] for r in rows] == ["tflm", "aot"]
    assert all(r["status"] == "ok" and r["agreement"]["ratio"] == 1.0 for r in rows)
    tflm, aot = rows
    assert tflm["pattern_output_head"] == aot["pattern_output_head"] == REFERENCE_OUTPUTS["ad01_int8"]
    assert tflm["runtime_flash_bytes"] > aot["runtime_flash_bytes"]


def test_the_arena_is_sized_from_a_run_on_the_emulated_core(runs):
    """Each tflm firmware's arena is the smallest arena AllocateTensors accepted in
    the calibration run on the same core (recorded in the cache) + the margin;
    the calibration ran its sample with exactly that arena, and the real run uses
    the arena_used_bytes the calibration reported."""
    from tinyml.runtimes.tflm.arena import recorded, with_margin
    from tinyml.runtimes.tflm.library import cached_libraries

    keys = {lib["key"] for lib in cached_libraries()}
    for name in MLPERF_MODELS:
        run = runs[name, "tflm"]
        project, used = run["project"], run["harness"].arena_bytes
        recs = [r for r in (recorded(project.model_sha256, k) for k in keys)
                if r is not None and r["core_flags"] == sorted(project.core_flags)]
        assert len(recs) == 1, f"{name}: one arena record for its library"
        assert recs[0]["arena_used_bytes"] == used, "the calibration run and the real run differ"
        assert used <= recs[0]["arena_min_bytes"] < used + 8192
        assert recs[0]["measured_on"].startswith(BOARD)
        assert project.arena_bytes == with_margin(recs[0]["arena_min_bytes"])
        header = (project.dir / "model" / "model.h").read_text()
        assert f"accepted on {BOARD}" in header and f"#define TINYML_ARENA_BYTES {project.arena_bytes}" in header


@pytest.mark.parametrize("kind", ["int16x8", "two_outputs"])
def test_int16x8_and_multi_output_models_run_through_the_tflm_firmware(kind, tflm_env, tmp_path_factory,
                                                                        tmp_path):
    """The harness bytes are the model's tensors one after the other: the device
    output equals the tflite-micro interpreter's, and check agrees it fits."""
    from tinyml.boards import load_board
    from tinyml.build import build_project
    from tinyml.check import estimate, model_facts
    from tinyml.emulate import host_outputs, run_project
    from tinyml.firmware import _load_board, bench_samples, render_firmware

    from tests.integration.tiny_models import cached, make_io_model

    model = cached(tmp_path_factory, f"{kind}.tflite", lambda p: make_io_model(p, kind))
    assert estimate(model_facts(model), load_board(BOARD), "tflm").fits
    samples = bench_samples(model, 3, seed=5)
    project = render_firmware(model, _load_board(BOARD, None), tmp_path / "fw", runtime="tflm",
                              variant="emulator", samples=samples)
    build_project(project.dir)
    harness, _ = run_project(project.dir, timeout_s=300)
    got = np.stack([np.frombuffer(s.output, dtype=np.int8) for s in harness.samples])
    host = host_outputs(model, samples.inputs)
    assert got.shape == host.shape and np.array_equal(got, host)
    if kind == "int16x8":
        assert got.shape[1] == 8 and len(set(got.view(np.int16).ravel().tolist())) > 2   # 4 int16 values
    else:
        assert got.shape[1] == 6                                                          # 4 + 2 int8

"""The TFLM library's inputs (sources per kernel set, flags, cache key), the
generated op resolver and the runtime choice, on small fake trees: no toolchain."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tinyml.errors import ConfigError, ToolError, UnsupportedOperatorError
from tinyml.runtimes import resolve_runtime
from tinyml.runtimes.tflm import firmware as tflm_fw
from tinyml.runtimes.tflm.library import LibraryConfig, library_key, library_sources
from tinyml.runtimes.tflm.tree import PROVENANCE_FILE, inspect_tree

M = "tensorflow/lite/micro"
M4F = ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")


def fake_tree(root: Path) -> Path:
    files = [
        f"{M}/micro_interpreter.h", f"{M}/micro_interpreter.cc", f"{M}/micro_interpreter_test.cc",
        f"{M}/debug_log.cc", f"{M}/micro_time.cc", f"{M}/test_helpers.cc",
        f"{M}/cortex_m_generic/debug_log.cc", f"{M}/cortex_m_generic/micro_time.cc",
        f"{M}/memory_planner/greedy_memory_planner.cc", f"{M}/memory_planner/greedy_memory_planner_test.cc",
        f"{M}/kernels/conv.cc", f"{M}/kernels/conv_common.cc", f"{M}/kernels/conv_test.cc",
        f"{M}/kernels/conv_test_common.cc", f"{M}/kernels/softmax.cc",
        f"{M}/kernels/circular_buffer_flexbuffers_generated_data.cc",
        f"{M}/kernels/cmsis_nn/conv.cc", f"{M}/kernels/cmsis_nn/softmax.cc",
        f"{M}/examples/hello/main.cc", f"{M}/micro_mutable_op_resolver.h",
        "tensorflow/lite/core/c/common.cc", "tensorflow/lite/kernels/internal/common.cc",
        "tensorflow/lite/kernels/internal/common.h", "tensorflow/lite/array.cc",
        "tensorflow/lite/experimental/microfrontend/lib/fft.cc",
        "tensorflow/compiler/mlir/lite/schema/schema_utils.cc",
        "third_party/flatbuffers/include/flatbuffers/flatbuffers.h",
        "third_party/cmsis_nn/Include/arm_nnfunctions.h",
        "third_party/cmsis_nn/Source/ConvolutionFunctions/arm_convolve_s8.c",
        "third_party/cmsis_nn/Source/ConvolutionFunctions/arm_convolve_f16.c",
        "third_party/cmsis_nn/Source/NNSupportFunctions/arm_nntables_flt.c",
        "third_party/cmsis_nn/Source/SoftmaxFunctions/arm_softmax_s8.c",
    ]
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"// {rel}\n")
    (root / f"{M}/micro_mutable_op_resolver.h").write_text(
        "  TfLiteStatus AddConv2D(\n      const TFLMRegistration& r = Register_CONV_2D()) {\n"
        "  TfLiteStatus AddFullyConnected(\n  TfLiteStatus AddSoftmax(\n"
        "  TfLiteStatus AddDepthwiseConv2D(\n")
    (root / PROVENANCE_FILE).write_text(json.dumps({"ref": "f" * 40}))
    return root


@pytest.fixture
def tree(tmp_path):
    return inspect_tree(fake_tree(tmp_path / "tflm"), "--tflm-dir")


def test_cmsis_nn_kernels_replace_the_reference_ones_of_the_same_name(tree):
    srcs = {s.path: s.group for s in library_sources(tree, "cmsis_nn")}
    assert srcs == {
        f"{M}/micro_interpreter.cc": "core",
        f"{M}/cortex_m_generic/debug_log.cc": "core",      # the target's log, not the reference one
        f"{M}/test_helpers.cc": "core",                     # in TFLM's library too
        f"{M}/memory_planner/greedy_memory_planner.cc": "core",
        "tensorflow/lite/core/c/common.cc": "core",
        "tensorflow/lite/kernels/internal/common.cc": "core",
        "tensorflow/compiler/mlir/lite/schema/schema_utils.cc": "core",
        f"{M}/kernels/cmsis_nn/conv.cc": "kernel",
        f"{M}/kernels/conv_common.cc": "kernel",
        f"{M}/kernels/cmsis_nn/softmax.cc": "kernel",
        "third_party/cmsis_nn/Source/ConvolutionFunctions/arm_convolve_s8.c": "third_party_kernel",
        "third_party/cmsis_nn/Source/SoftmaxFunctions/arm_softmax_s8.c": "third_party_kernel",
    }
    ref = {s.path for s in library_sources(tree, "reference")}
    assert f"{M}/kernels/conv.cc" in ref and f"{M}/kernels/softmax.cc" in ref
    assert not any("cmsis_nn" in p for p in ref)
    assert not any(p.endswith("micro_time.cc") for p in ref)   # the firmware supplies the clock


def test_flags_follow_tflm_release_build():
    cfg = LibraryConfig(core_flags=M4F)
    cxx = cfg.cxxflags()
    for flag in ("-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON", "-DCMSIS_NN", "-fno-rtti",
                 "-fno-exceptions", "-fno-threadsafe-statics", "-DNDEBUG", "-ffunction-sections", *M4F):
        assert flag in cxx
    assert "-DTF_LITE_STRIP_ERROR_STRINGS" not in cxx
    assert "-fno-rtti" not in cfg.cflags() and "-DCMSIS_NN" in cfg.cflags()
    ref = LibraryConfig(core_flags=M4F, kernels="reference", strip_error_strings=True)
    assert "-DCMSIS_NN" not in ref.cxxflags() and "-DTF_LITE_STRIP_ERROR_STRINGS" in ref.defines()
    with pytest.raises(ConfigError, match="unknown TFLM kernel set 'neon'"):
        LibraryConfig(core_flags=M4F, kernels="neon")
    with pytest.raises(ConfigError, match="optimization"):
        LibraryConfig(core_flags=M4F, core_opt="-O9")
    assert tflm_fw.library_config(list(M4F), "-Os", "cmsis_nn", False).kernel_opt == "-O2"
    assert tflm_fw.library_config(list(M4F), "-O3", "cmsis_nn", False).core_opt == "-O3"


def test_the_cache_key_changes_with_every_input_and_only_then(tree):
    def key(cfg=LibraryConfig(core_flags=M4F), compiler="arm-none-eabi-gcc 12.2.1"):
        return library_key(tree, cfg, library_sources(tree, cfg.kernels), compiler)[0]

    base = key()
    assert key() == base
    assert key(LibraryConfig(core_flags=("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft"))) != base
    assert key(LibraryConfig(core_flags=M4F, kernels="reference")) != base
    assert key(LibraryConfig(core_flags=M4F, core_opt="-O2")) != base
    assert key(LibraryConfig(core_flags=M4F, strip_error_strings=True)) != base
    assert key(compiler="arm-none-eabi-gcc 13.3.1") != base
    header = tree.root / "tensorflow/lite/kernels/internal/common.h"
    header.write_text(header.read_text() + "// changed\n")
    assert key() != base
    # a file that is neither compiled nor a header does not matter
    (tree.root / "README.md").write_text("notes\n")
    changed = key()
    (tree.root / "README.md").write_text("other notes\n")
    assert key() == changed


@pytest.mark.parametrize("opcode,method", [
    ("CONV_2D", "AddConv2D"), ("DEPTHWISE_CONV_2D", "AddDepthwiseConv2D"),
    ("FULLY_CONNECTED", "AddFullyConnected"), ("AVERAGE_POOL_2D", "AddAveragePool2D"),
    ("UNIDIRECTIONAL_SEQUENCE_LSTM", "AddUnidirectionalSequenceLSTM"),
    ("BATCH_MATMUL", "AddBatchMatMul"), ("L2_NORMALIZATION", "AddL2Normalization"),
    ("RESIZE_NEAREST_NEIGHBOR", "AddResizeNearestNeighbor"), ("SOFTMAX", "AddSoftmax"),
    ("TFLite_Detection_PostProcess", "AddDetectionPostprocess"),
])
def test_resolver_method_names_follow_tflm_generator(opcode, method):
    assert tflm_fw.resolver_method(opcode) == method


@dataclass
class _Op:
    index: int
    opcode: str


@dataclass
class _Model:
    operators: list


def test_resolver_registers_each_operator_type_once_in_first_use_order(tree):
    model = _Model([_Op(0, "CONV_2D"), _Op(1, "DEPTHWISE_CONV_2D"), _Op(2, "CONV_2D"), _Op(3, "SOFTMAX")])
    plan = tflm_fw.plan_resolver(model, tree, Path("m.tflite"))
    assert [(r.opcode, r.method, r.indices) for r in plan] == [
        ("CONV_2D", "AddConv2D", (0, 2)), ("DEPTHWISE_CONV_2D", "AddDepthwiseConv2D", (1,)),
        ("SOFTMAX", "AddSoftmax", (3,))]
    with pytest.raises(UnsupportedOperatorError, match=r"operator 1 \(HARD_SWISH\).*tflm runtime") as info:
        tflm_fw.plan_resolver(_Model([_Op(0, "CONV_2D"), _Op(1, "HARD_SWISH")]), tree, Path("m.tflite"))
    assert "--runtime aot" in info.value.hint
    with pytest.raises(UnsupportedOperatorError, match=r"CUSTOM:MyOp"):
        tflm_fw.plan_resolver(_Model([_Op(0, "CUSTOM:MyOp")]), tree, Path("m.tflite"))


def test_the_cache_key_does_not_depend_on_the_order_of_the_core_flags(tree):
    srcs = library_sources(tree, "cmsis_nn")
    a = LibraryConfig(core_flags=M4F)
    b = LibraryConfig(core_flags=tuple(reversed(M4F)) + ("-mthumb",))   # reordered, one repeat
    assert a.core_flags == b.core_flags and a.cxxflags() == b.cxxflags()
    assert library_key(tree, a, srcs, "gcc 12")[0] == library_key(tree, b, srcs, "gcc 12")[0]
    other = LibraryConfig(core_flags=("-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard"))
    assert library_key(tree, other, srcs, "gcc 12")[0] != library_key(tree, a, srcs, "gcc 12")[0]
    with pytest.raises(ConfigError, match="-mcpu twice"):
        LibraryConfig(core_flags=("-mcpu=cortex-m4", "-mcpu=cortex-m7"))


def test_resize_nearest_neighbor_avoids_the_gcc12_mve_assembler_bug_only_where_it_applies():
    rnn = f"{M}/kernels/resize_nearest_neighbor.cc"
    m55 = LibraryConfig(core_flags=("-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"))
    assert m55.opt_for(rnn, "kernel") == "-O3"                  # -O2 fails in the assembler
    assert m55.opt_for(f"{M}/kernels/conv.cc", "kernel") == "-O2"
    assert m55.opt_for(f"{M}/micro_interpreter.cc", "core") == "-Os"
    m55_o3 = LibraryConfig(core_flags=m55.core_flags, core_opt="-O3", kernel_opt="-O3")
    assert m55_o3.opt_for(rnn, "kernel") == "-O3" and m55_o3.file_opts([]) == {}
    m4 = LibraryConfig(core_flags=M4F)
    assert m4.opt_for(rnn, "kernel") == "-O2"
    from tinyml.runtimes.tflm.library import SourceFile
    srcs = [SourceFile(rnn, "kernel"), SourceFile(f"{M}/kernels/conv.cc", "kernel")]
    assert m55.file_opts(srcs) == {rnn: "-O3"} and m4.file_opts(srcs) == {}


def _fake_toolchain(bin_dir: Path, fail_on: str) -> Path:
    """arm-none-eabi-gcc/g++/ar stand-ins: compiling `fail_on` fails like the
    assembler does; every compile is counted in calls.txt."""
    bin_dir.mkdir(parents=True)
    calls = bin_dir / "calls.txt"
    compiler = f"""#!/bin/sh
if [ "$1" = "--version" ]; then echo "fake-arm-none-eabi-gcc 12.2"; exit 0; fi
echo x >> {calls}
out=""; src=""; prev=""
for a in "$@"; do
  [ "$prev" = "-o" ] && out="$a"
  [ "$prev" = "-c" ] && src="$a"
  prev="$a"
done
case "$src" in *{fail_on}) echo "/tmp/cc.s:12: Error: syntax error -- 'vcvtne.f32.s32 s15,s17'" >&2; exit 1;; esac
echo obj > "$out"
"""
    for name in ("arm-none-eabi-gcc", "arm-none-eabi-g++"):
        (bin_dir / name).write_text(compiler)
        (bin_dir / name).chmod(0o755)
    (bin_dir / "arm-none-eabi-ar").write_text('#!/bin/sh\nshift; out="$1"; shift; cat "$@" > "$out"\n')
    (bin_dir / "arm-none-eabi-ar").chmod(0o755)
    return calls


def test_a_failed_library_build_is_remembered_with_its_log_and_not_compiled_again(tree, tmp_path, monkeypatch):
    from tinyml.runtimes.tflm.library import LibraryBuildError, build_library, failures_dir

    calls = _fake_toolchain(tmp_path / "bin", fail_on="kernels/cmsis_nn/softmax.cc")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))
    config = LibraryConfig(core_flags=M4F)
    with pytest.raises(LibraryBuildError) as first:
        build_library(tree, config, jobs=1)
    msg = first.value.message
    assert "kernels/cmsis_nn/softmax.cc at -O2 failed" in msg and "vcvtne.f32.s32" in msg
    log = first.value.log_path
    assert log.is_file() and log.parent.parent == failures_dir() and str(log) in msg
    assert "vcvtne" in log.read_text()
    compiled = len(calls.read_text().splitlines())
    assert compiled >= 1
    with pytest.raises(LibraryBuildError) as again:       # remembered: the same sentence, no compiler
        build_library(tree, config, jobs=1)
    assert again.value.message == msg and "Remembered" in again.value.hint
    assert len(calls.read_text().splitlines()) == compiled
    assert not list((tmp_path / "cache" / "tflm" / "lib").glob(".*.tmp"))   # no half-written library
    with pytest.raises(LibraryBuildError):                # --force compiles again
        build_library(tree, config, jobs=1, force=True)
    assert len(calls.read_text().splitlines()) > compiled
    # a configuration that builds is not affected, and a forced success clears the record
    _fake_toolchain(tmp_path / "bin2", fail_on="no-such-file.cc")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin2'}:/usr/bin:/bin")
    lib = build_library(tree, config, jobs=1, force=True)   # same key: only --force gets past the record
    assert lib.path.is_file() and not (failures_dir() / lib.key).exists()


def test_runtime_auto_uses_tflm_when_a_tree_is_found_else_aot(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYML_TFLM_DIR", raising=False)
    choice = resolve_runtime("auto")
    assert choice.runtime == "aot" and "tinyml tflm fetch" in choice.note
    assert resolve_runtime(None).runtime == "aot"
    assert resolve_runtime("aot") .note is None
    with pytest.raises(ToolError, match="no TensorFlow Lite Micro tree") as info:
        resolve_runtime("tflm")
    assert "tinyml tflm fetch --from" in info.value.hint
    tree_root = fake_tree(tmp_path / "tree")
    (tree_root / "tensorflow/lite/micro/micro_interpreter.h").write_text("")
    monkeypatch.setenv("TINYML_TFLM_DIR", str(tree_root))
    choice = resolve_runtime("auto")
    assert choice.runtime == "tflm" and choice.note is None and choice.tflm_dir == tree_root.resolve()
    with pytest.raises(ConfigError, match="unknown runtime 'tvm'"):
        resolve_runtime("tvm")


def test_bench_tries_a_library_that_does_not_build_once_and_reports_one_sentence(tmp_path, monkeypatch,
                                                                                 shared_models):
    import tinyml.emulators as emulators
    import tinyml.firmware as firmware
    from tinyml import bench as bench_mod
    from tinyml.runtimes.tflm.library import LibraryBuildError

    calls = []

    def render(path, board, out_dir, *, runtime, **kw):
        calls.append((Path(path).stem, runtime))
        raise LibraryBuildError("the TFLM library for -mcpu=cortex-m55 does not build: compiling x.cc at "
                                "-O2 failed (Error: bad; log: /cache/x.log).")

    class Runner:
        def require(self):
            return None

    monkeypatch.setattr(firmware, "render_firmware", render)
    monkeypatch.setattr(emulators, "get_runner", lambda name: Runner())
    monkeypatch.setattr(bench_mod, "runtime_available", lambda rt: None)
    models = [shared_models / f"{m}.tflite" for m in ("ad01_int8", "kws_ref_model", "vww_96_int8")]
    result = bench_mod.bench(models, "mps3-an547", runtimes=["tflm"], build_dir=tmp_path, samples=1)
    assert calls == [("ad01_int8", "tflm")]                       # tried once, not per model
    assert [r["status"] for r in result.rows] == ["error"] * 3
    assert len({r["reason"] for r in result.rows}) == 1             # one sentence for all of them

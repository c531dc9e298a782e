"""`tinyml verify`: prove that a runtime computes what the reference interpreters do.

For the aot runtime: generate the C code, compile it for the host with gcc
(the same -Wall -Wextra -Werror flags as the firmware), run N inputs through
it (seeded random int8 inputs, or samples of a dataset), and compare every
output byte with the Python tflite-micro interpreter (the bit-exact contract)
and with ai-edge-litert. With per_layer, every operator's output is compared
with tflite-micro's intermediate tensors and the first operator that differs
is named.

Artifacts: <build>/verify/<model>-<runtime>/ (generated project, runner,
inputs/outputs, logs) and <build>/verify/<model>-<runtime>.json.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .artifacts import write_json
from .errors import ConfigError, DatasetError, ModelError, ThresholdError
from .tflite_model import TFLiteModel, load_model

RUNTIMES = ("aot",)


@dataclass
class Agreement:
    """How one runtime's outputs compare with one reference."""
    reference: str
    identical_samples: int
    samples: int
    mismatched_bytes: int
    total_bytes: int
    max_abs_diff: float
    first_mismatch_sample: int | None = None

    @property
    def ok(self) -> bool:
        return self.identical_samples == self.samples


@dataclass
class LayerAgreement:
    op_index: int
    opcode: str
    tensor: int
    identical_samples: int
    samples: int
    max_abs_diff: float


@dataclass
class VerifyResult:
    model: str
    runtime: str
    samples: int
    seed: int
    inputs: str                       # "random" or the dataset
    output: dict                      # name, shape, dtype
    agreements: list[Agreement]
    arena_bytes: int
    tflm_arena_bytes: int | None
    weights_bytes: int
    per_layer: list[LayerAgreement] = field(default_factory=list)
    first_differing_op: dict | None = None
    report_path: str = ""

    @property
    def ok(self) -> bool:
        return all(a.ok for a in self.agreements if a.reference == "tflite-micro")

    def raise_if_mismatch(self) -> None:
        """ThresholdError (exit code 1) when any output byte differs from tflite-micro's."""
        tflm = next(a for a in self.agreements if a.reference == "tflite-micro")
        if tflm.ok:
            return
        bad = self.first_differing_op
        if bad is not None:
            where = (f"; the first operator that differs is {bad['op_index']} ({bad['opcode']}, "
                     f"tensor {bad['tensor']})")
        else:
            where = "; run with --per-layer to find the first operator that differs"
        raise ThresholdError(
            f"{Path(self.model).name}: the {self.runtime} runtime's output differs from tflite-micro on "
            f"{tflm.samples - tflm.identical_samples} of {tflm.samples} inputs (largest difference "
            f"{tflm.max_abs_diff:g}){where}.", path=self.report_path)


def _random_inputs(model: TFLiteModel, n: int, seed: int) -> np.ndarray:
    t = model.input_tensors[0]
    rng = np.random.default_rng(seed)
    if t.dtype == "int8":
        return rng.integers(-128, 128, size=(n, *t.shape), dtype=np.int8)
    if t.dtype == "float32":
        # Span the range the first QUANTIZE maps onto int8, plus some saturation.
        scale, zp = 1.0 / 32, 0
        for op in model.operators:
            if t.index in op.inputs and op.opcode == "QUANTIZE":
                out = model.tensor(op.outputs[0])
                scale, zp = float(out.scale[0]), int(out.zero_point[0])
                break
        q = rng.integers(-140, 140, size=(n, *t.shape))
        return ((q - zp) * scale + rng.uniform(-0.5, 0.5, size=q.shape) * scale).astype(np.float32)
    raise ModelError(f"{model.path}: input dtype {t.dtype} is not supported by verify.", path=model.path)


def _dataset_inputs(model: TFLiteModel, dataset: str, n: int, seed: int) -> np.ndarray:
    from .data import load_dataset, spec_from_arg
    from .quantize import quantize_array

    t = model.input_tensors[0]
    ds = load_dataset(spec_from_arg(dataset, seed=seed))
    x = ds.x_test[:n]
    if x.size == 0:
        raise DatasetError(f"dataset {dataset} has no held-out samples.")
    per_sample = int(np.prod(t.shape[1:])) * (t.shape[0] if t.shape else 1)
    if int(np.prod(x.shape[1:])) != per_sample:
        raise DatasetError(f"dataset {dataset} samples have shape {list(x.shape[1:])}; the model's input is "
                           f"{list(t.shape)}.")
    x = x.reshape(len(x), *t.shape)
    if t.dtype == "int8":
        return quantize_array(x, float(t.scale[0]), int(t.zero_point[0]))
    return x.astype(np.float32)


def _as_values(raw_u8: np.ndarray, dtype: str) -> np.ndarray:
    return raw_u8.view(np.dtype(dtype))


def _agreement(name: str, got: np.ndarray, ref: np.ndarray, dtype: str) -> Agreement:
    got_b = got.reshape(len(got), -1)
    ref_b = np.ascontiguousarray(ref).reshape(len(ref), -1).view(np.uint8)
    same = (got_b == ref_b).all(axis=1)
    gv = _as_values(got_b, dtype).astype(np.float64)
    rv = _as_values(ref_b, dtype).astype(np.float64)
    diff = float(np.nanmax(np.abs(gv - rv))) if gv.size else 0.0
    bad = np.flatnonzero(~same)
    return Agreement(reference=name, identical_samples=int(same.sum()), samples=len(same),
                     mismatched_bytes=int((got_b != ref_b).sum()), total_bytes=int(got_b.size),
                     max_abs_diff=diff, first_mismatch_sample=int(bad[0]) if bad.size else None)


def _tflm_intermediates(model_path: Path, inputs: np.ndarray, tensors: list[int]) -> list[list[bytes]]:
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_file(
        str(model_path), arena_size=16 << 20,
        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    shape = tuple(interp.get_input_details(0)["shape"])
    out = []
    for sample in inputs:
        interp.set_input(np.asarray(sample).reshape(shape), 0)
        interp.invoke()
        out.append([np.ascontiguousarray(interp.GetTensor(t, 0)["tensor_data"]).tobytes() for t in tensors])
        interp.reset()
    return out


def verify(model_path: str | Path, build_dir: str | Path, *, runtime: str = "aot", samples: int = 50,
           seed: int = 0, dataset: str | None = None, per_layer: bool = False,
           compare_litert: bool = True, check: bool = True, sanitize: bool = False) -> VerifyResult:
    """Run the runtime on the host and compare with tflite-micro (and LiteRT).

    With check (the default), raises ThresholdError (exit code 1) when any
    output byte differs from the tflite-micro interpreter's, after writing the
    JSON report; otherwise the caller decides (result.raise_if_mismatch()).
    """
    from .interpreters import run_litert, run_tflm, tflm_arena_bytes
    from .runtimes.aot import generate
    from .runtimes.aot.host import build_runner, run_runner

    if runtime not in RUNTIMES:
        raise ConfigError(f"verify runs the aot runtime on the host; --runtime {runtime} is not one of "
                          f"{', '.join(RUNTIMES)}.", hint="Use `tinyml emulate` to check the tflm runtime.")
    if samples < 1:
        raise ConfigError(f"-n must be at least 1, got {samples}.")
    model_path = Path(model_path)
    model = load_model(model_path)
    stem = model_path.stem
    work = Path(build_dir) / "verify" / f"{stem}-{runtime}"
    if work.exists():
        shutil.rmtree(work)
    project = generate(model_path, work / "project", source_name=model_path.name)

    if dataset is not None:
        inputs = _dataset_inputs(model, dataset, samples, seed)
        source = f"dataset {dataset}"
    else:
        inputs = _random_inputs(model, samples, seed)
        source = "random"
    n = len(inputs)

    exe = build_runner(project, work / "runner", log_path=work / "build.log", per_layer=per_layer,
                       sanitize=sanitize)
    layer_bytes = [model.tensor(op.outputs[0]).nbytes for op in model.operators] if per_layer else None
    got, layers = run_runner(exe, inputs.reshape(n, -1).view(np.uint8), work, output_bytes=project.output.size_bytes,
                             layer_bytes=layer_bytes, log_path=work / "run.log", sanitize=sanitize)

    out_t = model.output_tensors[0]
    agreements = [_agreement("tflite-micro", got, run_tflm(model_path, inputs), out_t.dtype)]
    if compare_litert:
        agreements.append(_agreement("litert", got, run_litert(model_path, inputs), out_t.dtype))

    layer_results: list[LayerAgreement] = []
    first_bad = None
    if per_layer and layers is not None:
        tensors = [op.outputs[0] for op in model.operators]
        ref_layers = _tflm_intermediates(model_path, inputs, tensors)
        for k, op in enumerate(model.operators):
            t = model.tensor(op.outputs[0])
            dt = np.dtype(t.dtype)
            same, diff = 0, 0.0
            for s in range(n):
                a, b = layers[s][k], ref_layers[s][k]
                if a == b:
                    same += 1
                else:
                    av = np.frombuffer(a, dt).astype(np.float64)
                    bv = np.frombuffer(b, dt).astype(np.float64)
                    diff = max(diff, float(np.abs(av - bv).max()) if av.size == bv.size else float("inf"))
            layer_results.append(LayerAgreement(op.index, op.opcode, t.index, same, n, diff))
            if first_bad is None and same != n:
                first_bad = {"op_index": op.index, "opcode": op.opcode, "tensor": t.index,
                             "identical_samples": same, "samples": n, "max_abs_diff": diff}

    try:
        tflm_arena = tflm_arena_bytes(model_path)
    except ModelError:
        tflm_arena = None
    result = VerifyResult(
        model=str(model_path), runtime=runtime, samples=n, seed=seed, inputs=source,
        output={"tensor": out_t.index, "name": out_t.name, "shape": list(out_t.shape), "dtype": out_t.dtype},
        agreements=agreements, arena_bytes=project.arena_bytes, tflm_arena_bytes=tflm_arena,
        weights_bytes=project.weights_bytes, per_layer=layer_results, first_differing_op=first_bad)
    report = Path(build_dir) / "verify" / f"{stem}-{runtime}.json"
    result.report_path = str(report)
    write_json(report, result)

    if check:
        result.raise_if_mismatch()
    return result

"""The host references every runtime is held to: the Python tflite-micro
interpreter (bit-exact contract) and ai-edge-litert (LiteRT)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .errors import ModelError
from .proc import captured_fd

# Generous: the Python TFLM interpreter needs its arena up front; we measure
# what it actually used afterwards.
_ARENA_HEADROOM_BYTES = 16 << 20


def _tflm():
    from tflite_micro.python.tflite_micro import runtime
    return runtime


def validated(model_path: str | Path) -> str:
    """The interpreters run native code on the model: they only ever see one that passes
    tinyml.validate (through load_model), which raises a one-sentence ModelError otherwise."""
    from .tflite_model import load_model

    load_model(model_path)
    return str(model_path)


# --- isolation: the interpreters are native code fed an untrusted file ----------------------
# They run in a worker process of their own (spawned, so no TensorFlow state is inherited), kept
# for the next call; a model that still makes one die (a signal) becomes a ModelError naming the
# model and the signal, and the next call gets a fresh worker.
_WORKER = None


def _worker():
    global _WORKER
    if _WORKER is None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        _WORKER = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        # shut it down before the interpreter tears its modules down (else a weakref callback fails)
        import atexit

        atexit.register(_WORKER.shutdown, wait=True)
    return _WORKER


def _isolated(name: str, model_path: str | Path, *args):
    from concurrent.futures.process import BrokenProcessPool

    global _WORKER
    path = validated(model_path)
    try:
        return _worker().submit(_call, name, path, *args).result()
    except BrokenProcessPool as exc:
        _WORKER = None
        raise ModelError(f"{model_path}: the {_ENGINES[name]} interpreter crashed on this model (its process "
                         "died with a signal); tinyml cannot use it as a reference for this model.",
                         path=model_path) from exc
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - its Python layer reads parts of the file tinyml does not
        raise ModelError(f"{model_path}: the {_ENGINES[name]} interpreter cannot read this model "
                         f"({type(exc).__name__}: {exc}).", path=model_path) from exc


def _call(name: str, *args):
    return _LOCAL[name](*args)


def run_tflm(model_path: str | Path, inputs: np.ndarray) -> np.ndarray:
    """Outputs of the tflite-micro interpreter for a batch of inputs (first axis), run isolated."""
    return _isolated("run_tflm", model_path, np.asarray(inputs))


def run_litert(model_path: str | Path, inputs: np.ndarray) -> np.ndarray:
    """Outputs of the LiteRT (ai-edge-litert) interpreter, reference kernels, run isolated."""
    return _isolated("run_litert", model_path, np.asarray(inputs))


def run_tflm_bytes(model_path: str | Path, rows: np.ndarray) -> np.ndarray:
    """The tflite-micro interpreter on harness bytes (see _run_tflm_bytes), run isolated."""
    return _isolated("run_tflm_bytes", model_path, np.asarray(rows))


def tflm_arena_bytes(model_path: str | Path) -> int:
    """Arena bytes the tflite-micro interpreter used for this model, run isolated (see
    _tflm_arena_bytes)."""
    return _isolated("tflm_arena_bytes", model_path)


def _run_tflm(model_path: str | Path, inputs: np.ndarray) -> np.ndarray:
    """Outputs of the tflite-micro interpreter for a batch of inputs (first axis).

    Single-input, single-output models; the arrays keep the model's dtypes.
    """
    runtime = _tflm()
    interp = runtime.Interpreter.from_file(str(model_path), arena_size=_ARENA_HEADROOM_BYTES)
    shape = tuple(interp.get_input_details(0)["shape"])
    outs = []
    for sample in inputs:
        interp.set_input(np.asarray(sample).reshape(shape), 0)
        interp.invoke()
        outs.append(np.array(interp.get_output(0)).reshape(-1))
        interp.reset()
    return np.stack(outs) if outs else np.zeros((0,), np.int8)


def _run_tflm_bytes(model_path: str | Path, rows: np.ndarray) -> np.ndarray:
    """The tflite-micro interpreter on harness bytes: each row holds the
    model's input tensors one after the other (model input order, their own
    dtypes); returns each row's output tensors' bytes one after the other, as
    int8 (what the firmware prints)."""
    from .tflite_model import load_model

    model = load_model(model_path)
    runtime = _tflm()
    interp = runtime.Interpreter.from_file(str(model_path), arena_size=_ARENA_HEADROOM_BYTES)
    rows = np.ascontiguousarray(rows, dtype=np.int8).reshape(len(rows), -1)
    want = sum(t.nbytes for t in model.input_tensors)
    if rows.shape[1] != want:
        raise ModelError(f"{model_path}: {rows.shape[1]} input bytes per sample, the model's inputs "
                         f"take {want}.", path=model_path)
    outs = []
    for row in rows:
        blob, offset = row.tobytes(), 0
        for i, t in enumerate(model.input_tensors):
            details = interp.get_input_details(i)
            value = np.frombuffer(blob[offset:offset + t.nbytes], dtype=details["dtype"])
            interp.set_input(value.reshape(tuple(details["shape"])), i)
            offset += t.nbytes
        interp.invoke()
        out = b"".join(np.ascontiguousarray(interp.get_output(i)).tobytes()
                       for i in range(len(model.outputs)))
        outs.append(np.frombuffer(out, dtype=np.int8))
        interp.reset()
    return np.stack(outs) if outs else np.zeros((0, 0), np.int8)


def _run_litert(model_path: str | Path, inputs: np.ndarray) -> np.ndarray:
    """Outputs of the LiteRT (ai-edge-litert) interpreter, reference kernels."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_path=str(model_path),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    outs = []
    for sample in inputs:
        interp.set_tensor(inp["index"], np.asarray(sample, dtype=inp["dtype"]).reshape(inp["shape"]))
        interp.invoke()
        outs.append(interp.get_tensor(out["index"]).reshape(-1).copy())
    return np.stack(outs) if outs else np.zeros((0,), out["dtype"])


def _tflm_arena_bytes(model_path: str | Path) -> int:
    """Arena bytes the tflite-micro interpreter used for this model.

    Measured on this 64-bit host: TFLM's pointer-sized bookkeeping (TfLiteTensor,
    TfLiteEvalTensor, node and registration structs) is larger than on a 32-bit
    Cortex-M, so this over-estimates the MCU figure by a few hundred bytes to a
    few KB. The tensor data part is the same on both.
    """
    runtime = _tflm()
    try:
        interp = runtime.Interpreter.from_file(str(model_path), arena_size=_ARENA_HEADROOM_BYTES)
        details = interp.get_input_details(0)
        interp.set_input(np.zeros(tuple(details["shape"]), dtype=details["dtype"]), 0)
        interp.invoke()
        with captured_fd(2) as box:
            interp.print_allocations()
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"{model_path}: the tflite-micro interpreter cannot run it ({exc}).",
                         path=model_path) from exc
    match = re.search(r"\[RecordingMicroAllocator\] Arena allocation total (\d+) bytes", box["text"])
    if match is None:
        raise ModelError(f"{model_path}: tflite-micro did not report its arena usage.",
                         path=model_path)
    return int(match.group(1))


_LOCAL = {"run_tflm": _run_tflm, "run_litert": _run_litert, "tflm_arena_bytes": _tflm_arena_bytes,
          "run_tflm_bytes": _run_tflm_bytes}
_ENGINES = {"run_tflm": "tflite-micro", "run_litert": "LiteRT", "tflm_arena_bytes": "tflite-micro",
            "run_tflm_bytes": "tflite-micro"}

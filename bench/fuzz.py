#!/usr/bin/env python3
"""Seeded mutants of .tflite models through tinyml's model readers: every one must be read or
refused with a ModelError (one sentence), never a traceback.

Mutations (seeded, so a failure is reproducible from its seed and index): byte flips, 32-bit
integer overwrites (0, -1, INT32_MIN, INT32_MAX, small and large values) at 4-byte aligned
offsets, where the flatbuffer's tables, vtables, offsets, shapes and indices live, truncations,
and duplicated chunks.

Stages each mutant goes through, in process (pure Python, so a traceback is caught and counted):
load_model (structure, quantization and shape validation), analyze without the interpreter
(MACs, live bytes), and the aot runtime's operator check and arena planner.

Usage:
    .venv/bin/python bench/fuzz.py [--mutants 5000] [--seed 0] [MODEL ...]
Prints counts per outcome and exits 1 when any mutant raised something other than ModelError.
tests/unit/test_fuzz.py runs 300 mutants of the shared models and a small model of its own.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INTERESTING_INT32 = [0, 1, -1, 2, 255, 65535, 2**31 - 1, -(2**31), 1 << 20, 7, 63]


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One mutant of `data` and a short name of what was done."""
    buf = bytearray(data)
    kind = rng.choice(["flip", "int32", "int32", "int32", "truncate", "duplicate"])
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
    elif kind == "int32":
        # the table region: the flatbuffer's metadata sits before and after the large buffers,
        # so offsets are drawn from the whole file, 4-byte aligned
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(0, max(len(buf) - 4, 1)) & ~3
            buf[i:i + 4] = rng.choice(INTERESTING_INT32).to_bytes(4, "little", signed=True)
    elif kind == "truncate":
        buf = buf[:rng.randrange(8, len(buf))]
    else:
        start = rng.randrange(len(buf))
        chunk = buf[start:start + rng.randint(4, 256)]
        at = rng.randrange(len(buf))
        buf[at:at] = chunk
    return kind, bytes(buf)


def exercise(path: Path, interpreters: bool = False) -> str:
    """What tinyml's readers did with one model file: 'accepted', 'refused' or 'crash: ...'.
    With interpreters, an accepted model also goes through the tflite-micro interpreter (in its
    worker process): 'contained' when it died there and tinyml said so in one sentence."""
    from tinyml.analyze import analyze
    from tinyml.errors import ModelError, TinyMLError
    from tinyml.runtimes.aot import check_supported, plan_arena
    from tinyml.tflite_model import load_model

    try:
        model = load_model(path)
        analyze(path, measure_arena=False)
        try:
            check_supported(model)
        except TinyMLError:
            return "refused"                 # an operator the aot runtime does not run
        plan_arena(model)
        if interpreters:
            from tinyml.interpreters import tflm_arena_bytes

            try:
                tflm_arena_bytes(path)
            except ModelError as exc:
                return "contained" if "crashed" in exc.message else "refused"
        return "accepted"
    except ModelError:
        return "refused"
    except Exception as exc:  # noqa: BLE001 - what the fuzzer exists to find
        return f"crash: {type(exc).__name__}: {exc} | {traceback.format_exc().splitlines()[-3].strip()}"


def run(models: list[Path], mutants: int, seed: int, say=print, interpreters: bool = False) -> Counter:
    rng = random.Random(seed)
    outcomes: Counter = Counter()
    originals = [(m, m.read_bytes()) for m in models]
    with tempfile.TemporaryDirectory(prefix="tinyml-fuzz-") as tmp:
        for n in range(mutants):
            model, data = originals[n % len(originals)]
            kind, mutant = mutate(data, rng)
            path = Path(tmp) / f"{model.stem}-{n}.tflite"
            path.write_bytes(mutant)
            outcome = exercise(path, interpreters)
            outcomes[outcome.split(":")[0]] += 1
            if outcome.startswith("crash") or outcome == "contained":
                say(f"mutant {n} ({kind} of {model.name}, seed {seed}): {outcome}")
                (Path(tmp).parent / f"tinyml-fuzz-crash-{seed}-{n}.tflite").write_bytes(mutant)
            path.unlink()
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--mutants", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--interpreters", action="store_true",
                        help="also run accepted mutants through the tflite-micro interpreter (isolated)")
    args = parser.parse_args()
    models = args.models or sorted((ROOT.parent / "shared" / "models").glob("*.tflite"))
    if not models:
        raise SystemExit("name the models to mutate (no ../shared/models here)")
    outcomes = run(models, args.mutants, args.seed, interpreters=args.interpreters)
    print(", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())))
    sys.exit(1 if outcomes.get("crash") else 0)


if __name__ == "__main__":
    main()

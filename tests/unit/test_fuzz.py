"""300 seeded mutants of the MLPerf Tiny models through tinyml's model readers (bench/fuzz.py):
each is read or refused with one ModelError sentence; none may raise anything else.
`bench/fuzz.py --mutants 5000` is the longer run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _fuzz():
    spec = importlib.util.spec_from_file_location("tinyml_fuzz", ROOT / "bench" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mutants_are_read_or_refused_never_a_traceback(shared_models):
    crashes: list[str] = []
    outcomes = _fuzz().run(sorted(shared_models.glob("*.tflite")), 300, seed=2026, say=crashes.append)
    assert not crashes, "\n".join(crashes)
    assert sum(outcomes.values()) == 300
    # the mutations reach the validator: a good share is refused, and some survive to the planner
    assert outcomes["refused"] >= 60 and outcomes["accepted"] >= 60, outcomes


def test_the_mutator_is_seeded():
    import random

    fuzz = _fuzz()
    data = bytes(range(256)) * 8
    a, b = random.Random(5), random.Random(5)
    first = [fuzz.mutate(data, a) for _ in range(6)]
    assert first == [fuzz.mutate(data, b) for _ in range(6)]      # reproducible from the seed
    assert len({m for _, m in first}) == 6 and all(m != data for _, m in first)

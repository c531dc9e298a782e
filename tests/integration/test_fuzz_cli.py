"""Seeded mutants of the MLPerf Tiny models through the CLI as a user runs it: 300 through
`tinyml analyze` and `tinyml check`, and the first 12 that both accept through `tinyml verify`
(the generated C built and run on the host). Every command ends in a result or one `error:`
sentence with exit code 1 or 2: never a traceback, a signal, an unexpected exception or raw
compiler text. `bench/fuzz.py --mutants 5000 --interpreters` is the longer run of the readers."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

from tinyml.cli import main

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.needs_toolchain, pytest.mark.slow]
MUTANTS = 300
VERIFIED = 12


def _mutate():
    spec = importlib.util.spec_from_file_location("tinyml_fuzz", ROOT / "bench" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.mutate


def _cli(argv, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    return done.value.code, err


def _sound(code: int, err: str, what: str) -> None:
    assert code in (0, 1, 2), f"{what}: exit code {code}: {err[-800:]}"
    assert "Traceback" not in err and "unexpected " not in err, f"{what}: {err[-800:]}"
    if code:
        assert err.startswith("error: "), f"{what}: {err[-800:]}"
        # compiler output only as the tool's own sentence, never raw gcc/ld lines
        assert not any(line.startswith(("/usr/bin/ld", "collect2")) or ": error:" in line
                       for line in err.splitlines()[:1]), f"{what}: {err[-800:]}"


def test_mutants_through_analyze_check_and_verify(shared_models, tmp_path, capsys):
    mutate = _mutate()
    rng = random.Random(1515)
    models = sorted(shared_models.glob("*.tflite"))
    originals = [(m, m.read_bytes()) for m in models]
    verified = 0
    for n in range(MUTANTS):
        model, data = originals[n % len(originals)]
        kind, mutant = mutate(data, rng)
        path = tmp_path / f"m{n}.tflite"
        path.write_bytes(mutant)
        build = tmp_path / f"b{n}"
        what = f"mutant {n} ({kind} of {model.name})"
        code_a, err = _cli(["analyze", str(path), "-B", str(build), "--json"], capsys)
        _sound(code_a, err, what + " analyze")
        code_c, err = _cli(["check", str(path), "--board", "mps2-an386", "--runtime", "aot", "-B", str(build),
                            "--json"], capsys)
        _sound(code_c, err, what + " check")
        if code_a == 0 and code_c in (0, 1) and verified < VERIFIED and kind != "flip":
            code_v, err = _cli(["verify", str(path), "-n", "2", "-B", str(build), "--json"], capsys)
            _sound(code_v, err, what + " verify")
            verified += 1
        path.unlink()
    assert verified == VERIFIED

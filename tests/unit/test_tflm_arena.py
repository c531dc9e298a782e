"""The TFLM arena from the device (runtimes/tflm/arena.py): the margin, the
records, which QEMU board calibrates which core, and the fit check's use of a
record. No toolchain: the calibration run itself is in
tests/integration/test_tflm_models.py."""

from __future__ import annotations

import json

import pytest

from tinyml.boards import core_flags, load_board
from tinyml.runtimes.tflm import arena


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYML_BOARDS_DIR", raising=False)


def test_the_device_figure_gets_a_small_margin_on_16_bytes():
    assert arena.with_margin(2560) == 2880          # 2560 * 1.02 + 256 = 2867.2 -> 2880
    assert arena.with_margin(100_000) % 16 == 0 and arena.with_margin(100_000) >= 102_256
    assert arena.host_arena(24272) == 27728          # 24272 * 1.1 + 1024 = 27723.2 -> 27728


@pytest.mark.parametrize("board,calibrates_on", [
    ("mps2-an386", "mps2-an386"),          # an emulator machine itself
    ("nrf52840-dk", "mps2-an386"),         # same -mcpu/-mfpu/-mfloat-abi
    ("mps3-an547", "mps3-an547"),
    ("stm32l562e-dk", "mps2-an505"),
    ("rpi-pico", None),                    # no QEMU board has -mcpu=cortex-m0plus
])
def test_the_arena_is_measured_on_a_qemu_board_with_the_same_core_flags(board, calibrates_on):
    b = load_board(board)
    got = arena.calibration_board(b, core_flags(b))
    assert (got.name if got else None) == calibrates_on
    if got is not None:
        assert sorted(core_flags(got)) == sorted(core_flags(b))


def _record(tmp_path, sha, flags, used, key="k" * 24, **extra):
    rec = {"format": arena.RECORD_FORMAT, "model_sha256": sha, "model": "m.tflite", "library_key": key,
           "core_flags": sorted(flags), "kernels": "cmsis_nn", "core_opt": "-Os", "kernel_opt": "-O2",
           "strip_error_strings": False, "arena_used_bytes": used - 500, "arena_min_bytes": used,
           "measured_on": "mps2-an386 (QEMU mps2-an386)",
           "host_arena_bytes": 1000, **extra}
    arena.arena_dir().mkdir(parents=True, exist_ok=True)
    (arena.arena_dir() / f"{sha[:24]}-{key}.json").write_text(json.dumps(rec))
    return rec


def test_records_are_found_by_library_key_and_by_core_in_any_flag_order(tmp_path):
    sha = "ab" * 32
    flags = core_flags(load_board("mps2-an386"))
    _record(tmp_path, sha, flags, 5000)
    assert arena.recorded(sha, "k" * 24)["arena_min_bytes"] == 5000
    assert arena.recorded(sha, "z" * 24) is None
    assert arena.recorded_for_core(sha, list(reversed(flags)))["arena_min_bytes"] == 5000
    stale = dict(json.loads(next(arena.arena_dir().glob("*.json")).read_text()), format=1)
    (arena.arena_dir() / f"{sha[:24]}-{'k' * 24}.json").write_text(json.dumps(stale))
    assert arena.recorded(sha, "k" * 24) is None        # a record of another format is measured again
    assert arena.recorded_for_core(sha, core_flags(load_board("mps2-an500"))) is None
    assert arena.recorded_for_core(sha, flags, kernels="reference") is None
    assert arena.recorded_for_core("cd" * 32, flags) is None


def test_without_an_emulated_core_the_host_figure_is_used_and_said(tmp_path):
    from types import SimpleNamespace

    lib = SimpleNamespace(key="q" * 24)
    model = tmp_path / "m.tflite"
    model.write_bytes(b"not read: only hashed")
    b = load_board("rpi-pico")
    plan = arena.measure(model, lib, b, core_flags(b), opt="-Os", kernels="cmsis_nn",
                         strip_error_strings=False, host_bytes=24272, io_bytes=10)
    assert plan.basis == "host" and plan.arena_bytes == 27728
    assert "cortex-m0plus" in plan.note and "not measured on the device" in plan.note


def test_the_fit_check_uses_the_device_figure_once_there_is_one(shared_models, tmp_path):
    from tinyml.check import estimate, model_facts

    facts = model_facts(shared_models / "ad01_int8.tflite")
    board = load_board("mps3-an547")
    before = estimate(facts, board, "tflm")
    item = next(i for i in before.ram.items if i.name.startswith("tensor arena"))
    assert item.basis == "estimate" and item.bytes == facts.tflm_arena_bytes
    _record(tmp_path, facts.sha256, core_flags(board), 2560 + 480 * 4 + 500,
            measured_on="mps3-an547 (QEMU mps3-an547)")
    after = estimate(facts, board, "tflm")
    item = next(i for i in after.ram.items if i.name.startswith("tensor arena"))
    assert item.basis == "measured" and item.bytes == arena.with_margin(2560 + 480 * 4 + 500)
    assert "mps3-an547" in item.source
    # another core has no record: still the host figure
    other = estimate(facts, load_board("mps2-an386"), "tflm")
    assert next(i for i in other.ram.items if i.name.startswith("tensor arena")).basis == "estimate"

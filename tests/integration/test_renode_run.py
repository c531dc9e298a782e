"""The digits firmware on Renode's models of the two boards users named: the
board's own device ELF (its UART driver, DWT, clock init), run by renode-test,
every output equal to the host int8 model's. Also `tinyml renode export` gives
a folder that renode-test runs on its own. Skips with the reason where Renode
is not installed (it cannot be installed on the CI machine; see README)."""

from __future__ import annotations

import json

import pytest

from tinyml.data import DatasetSpec

pytestmark = [pytest.mark.needs_renode, pytest.mark.needs_toolchain, pytest.mark.slow]

BOARDS = ["stm32f4-discovery", "nrf52840-dk"]


@pytest.fixture(scope="module")
def digits_build(tmp_path_factory):
    from tinyml.quantize import quantize
    from tinyml.train import train

    build = tmp_path_factory.mktemp("digits")
    train(build, "digits_cnn", DatasetSpec(kind="digits", seed=0), epochs=10, seed=0)
    quantize(build)
    return build


@pytest.mark.parametrize("board", BOARDS)
def test_digits_on_renode_agrees_with_the_host(digits_build, board):
    from tinyml.emulate import emulate

    result = emulate(digits_build, board, samples=20, emulator="renode", runtime="aot")
    r = result.record
    assert r["emulator"] == "renode" and r["stand_in"] is False
    assert r["machine"] == {"stm32f4-discovery": "@platforms/boards/stm32f4_discovery.repl",
                            "nrf52840-dk": "@platforms/boards/nrf52840dk_nrf52840.repl"}[board]
    assert r["clock_unit"] == "cycles" and "executed instructions" in r["clock_note"]
    assert r["agreement"] == {"matching": 20, "total": 20, "ratio": 1.0, "max_abs_diff": 0}
    assert r["accuracy"]["device"] == r["accuracy"]["host_int8"]
    assert 10_000 < r["latency"]["median"] < 5_000_000
    assert result.path == digits_build / "emulate" / f"{board}-renode.json"
    # same record shape as QEMU's
    qemu = emulate(digits_build, "mps2-an386", samples=2)
    assert set(qemu.record) <= set(r)


def test_exported_suite_runs_alone(digits_build, tmp_path):
    from tinyml import proc
    from tinyml.renode import export

    suite = export(digits_build, "stm32f4-discovery", tmp_path / "ci", samples=5)
    res = proc.run(["renode-test", str(suite), "-r", str(tmp_path / "results")], cwd=tmp_path, timeout_s=600,
                   check=False)
    assert res.returncode == 0, res.stdout[-2000:]
    lines = (tmp_path / "ci" / "uart.log").read_text().splitlines()
    assert sum(line.startswith("TINYML SAMPLE") for line in lines) == 5
    assert json.loads((tmp_path / "ci" / "tinyml-renode.json").read_text())["samples"] == 5

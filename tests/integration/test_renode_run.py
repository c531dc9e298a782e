"""Every board with a Renode platform runs its own device firmware (its UART
driver, clock init, DWT) on Renode 1.15.1 under renode-test: digits and the
MLPerf Tiny kws model, every output equal to the host int8 model's, and DWT
counts that agree with QEMU's -icount count on the same core. Broken firmware
and a broken set-up each end in one sentence naming the log. CI runs these
against ../shared/renode (TINYML_REQUIRE=renode: they cannot skip)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tinyml.boards import list_boards, load_board
from tinyml.data import DatasetSpec
from tinyml.errors import EmulatorError
from tinyml.renode import QUANTUM_US

pytestmark = [pytest.mark.needs_renode, pytest.mark.needs_toolchain, pytest.mark.slow]

RENODE_BOARDS = sorted(b.name for b in list_boards() if b.emulators.renode is not None)


@pytest.fixture(scope="module")
def digits_build(tmp_path_factory):
    from tinyml.quantize import quantize
    from tinyml.train import train

    build = tmp_path_factory.mktemp("digits")
    train(build, "digits_cnn", DatasetSpec(kind="digits", seed=0), epochs=10, seed=0)
    quantize(build)
    return build


def test_every_board_with_a_renode_model_is_tested():
    assert len(RENODE_BOARDS) == 9 and {"stm32f4-discovery", "nrf52840-dk", "microbit-v2"} <= set(RENODE_BOARDS)


@pytest.mark.needs_qemu
@pytest.mark.parametrize("board", RENODE_BOARDS)
def test_digits_on_renode_agrees_with_the_host_and_counts_instructions(digits_build, board):
    from tinyml.emulate import emulate

    result = emulate(digits_build, board, samples=10, emulator="renode", runtime="aot")
    r = result.record
    assert r["emulator"] == "renode" and r["stand_in"] is False
    assert r["machine"] == load_board(board).emulators.renode.platform
    assert r["clock_unit"] == "cycles" and "executed instructions" in r["clock_note"]
    assert r["agreement"] == {"matching": 10, "total": 10, "ratio": 1.0, "max_abs_diff": 0}
    assert r["accuracy"]["device"] == r["accuracy"]["host_int8"]
    assert result.path == digits_build / "emulate" / f"{board}-renode.json"
    # The DWT ticks at MIPS x 10^6 Hz, so it counts executed instructions: the same inference code
    # on QEMU's machine with the same core (the board's stand-in) counts the same within one
    # quantum either side and 1% (the board's own kernel build options).
    qemu = emulate(digits_build, board, samples=10)
    assert set(qemu.record) <= set(r)
    renode_median, qemu_median = r["latency"]["median"], qemu.record["latency"]["median"]
    quantum_instructions = QUANTUM_US * load_board(board).emulators.renode.mips
    assert abs(renode_median - qemu_median) <= 0.01 * qemu_median + 2 * quantum_instructions, \
        (renode_median, qemu_median)


@pytest.mark.parametrize("board", RENODE_BOARDS)
def test_mlperf_kws_on_renode_is_bit_exact(shared_models, tmp_path, board):
    from tinyml.emulate import emulate

    result = emulate(tmp_path, board, model=shared_models / "kws_ref_model.tflite", samples=2,
                     emulator="renode", runtime="aot")
    assert result.record["agreement"]["matching"] == 2 and result.record["agreement"]["max_abs_diff"] == 0
    # BENCHMARKS.md: TFLM's kws costs 7.7 M instructions on the M4; ours is near 5.9 M on every core
    assert 4_000_000 < result.record["latency"]["median"] < 9_000_000


def test_bench_on_renode_has_dwt_rows(shared_models, tmp_path):
    from tinyml.cli import main

    with pytest.raises(SystemExit) as done:
        main(["bench", str(shared_models / "ad01_int8.tflite"), "--board", "stm32f4-discovery", "--emulator",
              "renode", "--runtime", "aot", "--samples", "2", "-B", str(tmp_path)])
    assert done.value.code == 0
    data = json.loads((tmp_path / "bench" / "bench-stm32f4-discovery-renode.json").read_text())
    (row,) = data["rows"]
    assert row["emulator"] == "renode" and row["clock_unit"] == "cycles"
    assert row["agreement"]["matching"] == 2 and row["machine"] == "@platforms/boards/stm32f4_discovery.repl"
    assert 400_000 < row["per_inference"] < 600_000


def test_exported_suite_runs_alone(digits_build, tmp_path):
    from tinyml import proc
    from tinyml.emulators.renode import RENODE_TEST, _tool, run_environment
    from tinyml.renode import export

    suite = export(digits_build, "nucleo-l4r5zi", tmp_path / "ci", samples=5)
    # renode-test alone, as a user's CI would run the folder (with a private TMPDIR, as Renode needs)
    res = proc.run([_tool(RENODE_TEST), str(suite),
                    "-r", str(tmp_path / "results")], cwd=tmp_path, timeout_s=600, check=False,
                   env=run_environment(tmp_path / "private"), process_group=True)
    assert res.returncode == 0, res.stdout[-2000:]
    lines = (tmp_path / "ci" / "uart.log").read_text().splitlines()
    assert sum(line.startswith("TINYML SAMPLE") for line in lines) == 5
    assert json.loads((tmp_path / "ci" / "tinyml-renode.json").read_text())["samples"] == 5


# --- broken firmware: each failure is one sentence with renode-test's reason and the log ---

def _built_device_project(build_dir: Path, board_name: str, patch):
    """The board's device firmware for digits, with `patch(src_dir)` applied before the build."""
    from tinyml.build import build_project
    from tinyml.firmware import project_dir_for, render_firmware, resolve_inputs

    model_path, board, samples = resolve_inputs(build_dir, board_name, None, 3, 0, None, None)
    project_dir = project_dir_for(build_dir, board.name, "aot", "emulator", "renode")
    project = render_firmware(model_path, board, project_dir, runtime="aot", variant="device", samples=samples)
    patch(project_dir / "src")
    build_project(project_dir)
    return board, project, model_path


def _after_begin(src: Path, code: str) -> None:
    main = src / "main.c"
    text = main.read_text()
    anchor = '    tinyml_print_u32(TINYML_SAMPLE_COUNT);\n    tinyml_print("\\n");\n'
    assert anchor in text
    main.write_text(text.replace(anchor, anchor + code, 1))


def _run(build_dir, board, project, model_path, timeout_s=120.0):
    from tinyml.emulate import run_renode_suite

    return run_renode_suite(build_dir, board, project, model_path, timeout_s=timeout_s)


def test_a_hang_fails_in_virtual_time(digits_build):
    record = digits_build / "emulate" / "stm32f4-discovery-renode.json"
    before = record.read_bytes() if record.is_file() else None      # another test's good run
    board, project, model = _built_device_project(digits_build, "stm32f4-discovery",
                                                  lambda src: _after_begin(src, "    for (;;) {}\n"))
    with pytest.raises(EmulatorError) as failed:
        _run(digits_build, board, project, model)
    message = failed.value.message
    assert re.search(r"stopped after 0 of 3 samples without TINYML END \(renode-test: no line "
                     r"\"TINYML SAMPLE 0 \.\*\" on sysbus\.usart2 within 1 virtual s; log: \S+renode\.log\)\.$",
                     message), message
    assert (record.read_bytes() if record.is_file() else None) == before    # no record of the failed run


def test_a_hang_past_the_host_time_limit_kills_renode(digits_build):
    import psutil

    board, project, model = _built_device_project(digits_build, "nrf52840-dk",
                                                  lambda src: _after_begin(src, "    for (;;) {}\n"))
    with pytest.raises(EmulatorError) as failed:
        _run(digits_build, board, project, model, timeout_s=3)
    assert "killed after the 3 s timeout, host time" in failed.value.message
    assert "log: " in failed.value.message
    suite_dir = str((digits_build / "emulate" / "nrf52840-dk-renode").resolve())
    left = [p for p in psutil.process_iter(["cmdline"]) if suite_dir in " ".join(p.info["cmdline"] or [])]
    assert not left, "renode-test or Renode outlived the host-time limit"


def test_a_fault_is_reported(digits_build):
    # UDF raises a UsageFault (exception 6) on Renode's Cortex-M7; the firmware's handler names it
    board, project, model = _built_device_project(digits_build, "stm32f746g-disco",
                                                  lambda src: _after_begin(src, '    __asm volatile ("udf #0");\n'))
    with pytest.raises(EmulatorError, match=r"the firmware failed: (hardfault pc=\w+|unexpected exception 6) "
                                            r"\(renode-test: the firmware printed: TINYML FAIL .*; log: \S+\)\.$"):
        _run(digits_build, board, project, model)


def test_output_on_another_uart_is_reported(digits_build):
    def other_uart(src: Path) -> None:
        console = src / "console.c"
        console.write_text(console.read_text().replace("#define USART_BASE 0x40004400u",
                                                       "#define USART_BASE 0x40004800u", 1))

    board, project, model = _built_device_project(digits_build, "stm32f4-discovery", other_uart)
    with pytest.raises(EmulatorError, match=r"never printed TINYML BEGIN \(renode-test: no line \"TINYML BEGIN "
                                            r"run=\w+\( \.\*\)\?\" on sysbus\.usart2 within 1 virtual s; log: "):
        _run(digits_build, board, project, model)


def test_the_robot_keywords_exist_in_this_renode():
    """The keywords the suite uses are in the installed Renode (1.15.1 has no Register Failing Uart
    String): the Renode keyword library is compiled into Renode.exe under their CamelCase names."""
    from tinyml.emulators.renode import RENODE_TEST, _tool
    from tinyml.renode import render_scripts

    exe = Path(_tool(RENODE_TEST)).resolve().parent / "output" / "bin" / "Release" / "Renode.exe"
    if not exe.is_file():
        pytest.skip(f"{exe} not found (not a Mono build of Renode)")
    names = set(re.findall(rb"[A-Z][A-Za-z]{5,}", exe.read_bytes()))
    robot = render_scripts(load_board("stm32f4-discovery"), run_id="0123abcd", samples=3, runtime="aot").robot
    for keyword in ("Execute Command", "Execute Script", "Create Terminal Tester", "Wait For Line On Uart",
                    "Start Emulation"):
        assert keyword in robot and keyword.replace(" ", "").encode() in names, keyword

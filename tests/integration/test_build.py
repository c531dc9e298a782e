"""tinyml build: warning-free cross-builds for every board, same inputs -> same bytes, the size split."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tiny_models import cached, install_fixture_runtime, make_tiny_dense

from tinyml.boards import list_boards
from tinyml.build import build_project
from tinyml.errors import BoardError, ToolError
from tinyml.firmware import bench_samples, render_firmware, seeded_samples

pytestmark = [pytest.mark.needs_toolchain]


def test_same_inputs_same_bytes_and_plain_make(shared_models, tmp_path):
    model = shared_models / "ad01_int8.tflite"
    samples = bench_samples(model, 2, 0)
    a = render_firmware(model, "mps2-an386", tmp_path / "a" / "fw", variant="emulator", samples=samples)
    b = render_firmware(model, "mps2-an386", tmp_path / "elsewhere" / "fw2", variant="emulator", samples=samples)
    built = build_project(a.dir)
    # the second copy builds with plain make, as a user would outside the tool
    subprocess.run(["make", "-C", str(b.dir), "-j2"], check=True, capture_output=True)
    for name in ("firmware.elf", "firmware.bin", "firmware.hex"):
        assert (a.dir / "build" / name).read_bytes() == (b.dir / "build" / name).read_bytes(), name
    s = built.size
    assert s["elf_sha256"] == built.size["elf_sha256"] and s["opt"] == "-Os"
    assert s["flash_bytes"] == s["text"] + s["rodata"] + s["data"] == sum(s["split"].values())
    assert s["data"] + s["bss"] == sum(s["split_ram"].values())
    assert s["ram_bytes"] == s["data"] + s["bss"] + s["heap_bytes"] + s["stack_bytes"]
    assert s["stack_bytes"] == 8192
    assert s["split"]["model"] >= a.weights_bytes             # the weights are the model's
    assert s["split_ram"]["model"] >= a.arena_bytes           # and so is the arena
    assert 0 < s["split"]["runtime"] < 4096                   # the kernel library (FULLY_CONNECTED only)
    assert s["samples_bytes"] == 2 * 640
    assert (a.dir / "build" / "size.json").is_file() and not (a.dir / ".build-tmp").exists()
    # the .bin is the flash image: vector table first, initial SP at the top of the stack
    image = (a.dir / "build" / "firmware.bin").read_bytes()
    assert s["flash_bytes"] <= len(image) <= s["flash_bytes"] + 64   # plus alignment between sections
    sp = int.from_bytes(image[:4], "little")
    assert 0x20000000 < sp <= 0x20000000 + s["data"] + s["bss"] + s["stack_bytes"] + 16


def test_opt_level_changes_the_code(shared_models, tmp_path):
    model = shared_models / "ad01_int8.tflite"
    p = render_firmware(model, "mps2-an386", tmp_path / "fw", variant="emulator", samples=bench_samples(model, 1, 0))
    small = build_project(p.dir).size
    fast = build_project(p.dir, opt="-O2").size
    assert fast["opt"] == "-O2" and fast["elf_sha256"] != small["elf_sha256"]
    assert fast["split"]["runtime"] > small["split"]["runtime"]


def test_every_board_device_firmware_builds_warning_free(tmp_path_factory, tmp_path, monkeypatch):
    """-Wall -Wextra -Werror with each board's core flags, console driver, clock and clock init.

    The C fixture stands in for the model (the AOT kernels are built for every
    core by the emulate tests), so this checks the board support only.
    """
    dense4 = cached(tmp_path_factory, "dense4.tflite", make_tiny_dense)
    runtime = install_fixture_runtime(monkeypatch)
    samples = seeded_samples(dense4, 1, 0)
    built, refused, seen = [], [], set()
    for board in list_boards():
        c = board.console
        kind = (board.core, board.fpu, c.kind, c.variant, board.clock_init, board.cycle_counter)
        if kind in seen:            # the same C as a board already built
            continue
        seen.add(kind)
        try:
            p = render_firmware(dense4, board, tmp_path / board.name, runtime=runtime, samples=samples)
        except BoardError as exc:
            refused.append(board.name)
            assert "has no driver" in exc.message or "boot stage" in exc.message
            continue
        build_project(p.dir)
        built.append(kind)
    assert {"semihosting", "stm32-usart", "nrf52-uarte"} <= {k[2] for k in built}
    assert {"v1", "v2", "lpuart"} <= {k[3] for k in built}
    assert {"none", "stm32f4-hse-pll", "stm32l4-msi-pll", "nrf52-hfxo"} <= {k[4] for k in built}
    assert {"cortex-m0", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"} <= {k[0] for k in built}
    assert set(refused) <= {"rpi-pico", "sparkfun-edge"}


def test_a_model_too_big_for_ram_fails_at_link_time(shared_models, tmp_path):
    import yaml

    board = yaml.safe_load((Path(__file__).resolve().parents[2] / "boards" / "mps2-an386.yaml").read_text())
    board.update(name="small-ram", stack_bytes="4K")
    board["memory"]["ram"] = {"origin": 0x20000000, "size": "12K"}
    (tmp_path / "boards").mkdir()
    (tmp_path / "boards" / "small-ram.yaml").write_text(yaml.safe_dump(board))
    model = shared_models / "kws_ref_model.tflite"              # its arena alone is larger than 8 KB
    p = render_firmware(model, "small-ram", tmp_path / "fw", samples=seeded_samples(model, 1, 0),
                        boards_dirs=[tmp_path / "boards"])
    assert p.arena_bytes > 8192
    with pytest.raises(ToolError, match=r"building fw failed .*region RAM overflowed by [\d,]+ bytes") as exc:
        build_project(p.dir)
    assert "overflowed" in exc.value.hint and exc.value.log_path.is_file()
    assert not (p.dir / "build").exists()                     # nothing half-written

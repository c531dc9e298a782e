"""`tinyml renode export` for every board with a Renode platform (no Renode
needed): the folder holds the suite, the .resc and the board's own device ELF,
whose vector table sits where the .resc points VTOR and whose stack is in the
board's RAM; exporting twice gives the same bytes, and an existing folder is
kept unless --force."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from tiny_models import tiny_build_dir

from tinyml.boards import list_boards, load_board
from tinyml.errors import ConfigError
from tinyml.renode import export

pytestmark = pytest.mark.needs_toolchain

BOARDS = sorted(b.name for b in list_boards() if b.emulators.renode is not None)


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory) -> Path:
    return tiny_build_dir(tmp_path_factory, 4)


def _vector_table(elf: Path, address: int) -> tuple[int, int]:
    """Initial SP and reset vector at `address`, read from the ELF's program headers."""
    data = elf.read_bytes()
    phoff, = struct.unpack_from("<I", data, 0x1C)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x2A)
    for i in range(phnum):
        p_type, p_offset, _vaddr, p_paddr, p_filesz = struct.unpack_from("<IIIII", data, phoff + i * phentsize)
        if p_type == 1 and p_paddr <= address < p_paddr + p_filesz:
            return struct.unpack_from("<II", data, p_offset + address - p_paddr)
    raise AssertionError(f"nothing loaded at 0x{address:08x}")


@pytest.mark.parametrize("name", BOARDS)
def test_export_writes_a_runnable_folder(tiny_build, tmp_path, name):
    board = load_board(name)
    out = tmp_path / "ci"
    suite = export(tiny_build, name, out, samples=2)
    assert suite == out / f"{name}.robot"
    platform = load_board(name).emulators.renode.platform
    ours = [Path(platform).name] if platform.startswith("renode/") else []     # our .repl travels along
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["firmware.elf", f"{name}.resc", f"{name}.robot", "tinyml-renode.json"] + ours)
    resc = (out / f"{name}.resc").read_text()
    flash, ram = board.memory.flash, board.memory.ram
    assert f"cpu VectorTableOffset 0x{flash.origin:08X}" in resc
    sp, reset = _vector_table(out / "firmware.elf", flash.origin)
    assert ram.origin < sp <= ram.origin + ram.size
    assert reset & 1 and flash.origin <= reset < flash.origin + flash.size
    meta = json.loads((out / "tinyml-renode.json").read_text())
    assert meta["samples"] == 2 and meta["console"] == board.emulators.renode.console
    robot = suite.read_text()
    assert f"${{RUN_ID}}            {meta['run_id']}" in robot and "${SAMPLES}           2" in robot
    # the ELF is the device build (the board's UART driver, no semihosting)
    assert b"semihosting" not in (out / "firmware.elf").read_bytes().lower()


def test_export_is_reproducible_and_never_overwrites(tiny_build, tmp_path):
    first = export(tiny_build, "stm32f4-discovery", tmp_path / "a", samples=2)
    again = export(tiny_build, "stm32f4-discovery", tmp_path / "b", samples=2)
    for name in ("firmware.elf", "stm32f4-discovery.resc", "stm32f4-discovery.robot"):
        assert (first.parent / name).read_bytes() == (again.parent / name).read_bytes(), name
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        export(tiny_build, "stm32f4-discovery", tmp_path / "a", samples=2)
    export(tiny_build, "stm32f4-discovery", tmp_path / "a", samples=3, force=True)
    assert json.loads((tmp_path / "a" / "tinyml-renode.json").read_text())["samples"] == 3

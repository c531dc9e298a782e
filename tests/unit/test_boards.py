"""Boards registry: the shipped board files, the schema's error messages, the search path."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tinyml.boards import (core_flags, format_size, list_boards, load_board, load_board_file, parse_size,
                           qemu_target, reserve_bytes, search_dirs)
from tinyml.cli import main as cli_main
from tinyml.errors import BoardError
from tinyml.resources import data_dir

SHIPPED = data_dir("boards")
DEV_BOARDS = {"stm32f4-discovery", "stm32f746g-disco", "nucleo-l4r5zi", "nucleo-h743zi", "b-l475e-iot01a",
              "nrf52840-dk", "arduino-nano-33-ble-sense", "microbit-v2", "rpi-pico", "sparkfun-edge",
              "stm32l562e-dk"}
EMULATORS = {"mps2-an385": "cortex-m3", "mps2-an386": "cortex-m4", "mps2-an500": "cortex-m7",
             "mps2-an505": "cortex-m33", "mps3-an547": "cortex-m55", "lm3s6965evb": "cortex-m3",
             "microbit": "cortex-m0", "netduinoplus2": "cortex-m4"}


@pytest.fixture(autouse=True)
def _no_env_boards(monkeypatch):
    monkeypatch.delenv("TINYML_BOARDS_DIR", raising=False)


def _raw(name: str) -> dict:
    return yaml.safe_load((SHIPPED / f"{name}.yaml").read_text())


def _write(dir_: Path, name: str, data: dict, stem: str | None = None) -> Path:
    path = dir_ / f"{stem or name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ----------------------------------------------------------------------------- sizes

@pytest.mark.parametrize("text,expected", [("256K", 262144), ("1M", 1048576), ("0x40000", 262144),
                                           (4096, 4096), ("96k", 98304), (" 8K ", 8192), ("0X10", 16)])
def test_sizes_parse(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["lots", "1.5M", "12KB", "-4K", True, 2.5, None, -1, "0x"])
def test_sizes_reject(bad):
    with pytest.raises(ValueError, match="expected a size such as 256K, 1M or a byte count"):
        parse_size(bad)


def test_format_and_reserve():
    assert [format_size(n) for n in (1048576, 98304, 100)] == ["1M", "96K", "100"]
    # 10 % of 16 KB = 1638.4 bytes, rounded up; percent given as a float stays exact.
    assert reserve_bytes(16384, 10) == 1639
    assert reserve_bytes(131072, 10) == 13108
    assert reserve_bytes(131072, 12.5) == 16384
    assert reserve_bytes(131072, 0) == 0


# ----------------------------------------------------------------------------- the shipped boards

def test_every_required_board_is_shipped_and_valid():
    boards = {b.name: b for b in list_boards()}
    assert DEV_BOARDS | set(EMULATORS) <= set(boards)
    for name, board in boards.items():
        assert board.source_path == SHIPPED / f"{name}.yaml"
        assert board.datasheet.strip()
        assert board.stack_bytes + board.heap_bytes < board.memory.ram.size
    for name, core in EMULATORS.items():
        assert boards[name].core == core
        assert boards[name].is_emulator and boards[name].emulators.qemu.machine == name
        assert boards[name].flashing is None
    for name in DEV_BOARDS:
        b = boards[name]
        assert b.flashing is not None, name
        assert not b.is_emulator
        machine, emu, stand_in = qemu_target(b)
        # QEMU 7.2 models none of these boards: every one runs on a same-architecture stand-in.
        assert stand_in and emu.name in EMULATORS and machine == emu.name, name
        assert b.console.kind != "semihosting" and b.console.base is not None, name


def test_datasheet_figures_of_some_boards():
    """Figures from the datasheets, copied here by hand (boards/README.md cites the documents)."""
    f4 = load_board("stm32f4-discovery")
    assert (f4.mcu, f4.core, f4.clock_hz) == ("STM32F407VG", "cortex-m4", 168_000_000)
    assert (f4.memory.flash.origin, f4.memory.flash.size) == (0x08000000, 1 << 20)
    assert (f4.memory.ram.origin, f4.memory.ram.size) == (0x20000000, 128 * 1024)
    assert f4.memory.extra_regions["ccm"].origin == 0x10000000
    assert (f4.console.instance, f4.console.base, f4.console.variant) == ("USART2", 0x40004400, "v1")

    l4 = load_board("nucleo-l4r5zi")
    assert (l4.memory.flash.size, l4.memory.ram.size, l4.clock_hz) == (2 << 20, 640 * 1024, 120_000_000)
    assert (l4.console.instance, l4.console.base, l4.console.variant) == ("LPUART1", 0x40008000, "lpuart")

    h7 = load_board("nucleo-h743zi")
    assert (h7.memory.ram.origin, h7.memory.ram.size) == (0x24000000, 512 * 1024)  # AXI SRAM
    assert h7.memory.extra_regions["dtcm"].size == 128 * 1024

    nano = load_board("arduino-nano-33-ble-sense")
    assert nano.memory.flash.origin == 0x10000 and nano.memory.flash.end == 1 << 20
    assert "bossac" in nano.flashing.note

    edge = load_board("sparkfun-edge")
    assert edge.memory.flash.origin == 0xC000 and edge.memory.flash.end == 1 << 20
    assert (edge.memory.ram.origin, edge.memory.ram.size) == (0x10000000, 384 * 1024)

    pico = load_board("rpi-pico")
    assert (pico.memory.flash.origin, pico.memory.ram.size) == (0x10000000, 264 * 1024)
    assert pico.boot_stage.bytes == 256 and pico.cycle_counter == "systick"
    assert (pico.flashing.default, pico.flashing.uf2_family) == ("uf2", 0xE48BFF56)

    mb2 = load_board("microbit-v2")
    assert (mb2.mcu, mb2.memory.flash.size, mb2.memory.ram.size) == ("nRF52833", 512 * 1024, 128 * 1024)
    assert (mb2.flashing.default, mb2.flashing.volume_label) == ("copy", "MICROBIT")

    an505 = load_board("mps2-an505")
    assert (an505.memory.flash.origin, an505.memory.ram.origin) == (0x10000000, 0x38000000)
    net = load_board("netduinoplus2")
    assert net.memory.ram.size == 128 * 1024
    assert [(c.instance, c.base, c.qemu_serial) for c in net.alt_consoles][0] == ("USART1", 0x40011000, 0)


def test_core_flags_come_from_cores_yaml():
    assert core_flags(load_board("mps2-an386")) == ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16",
                                                    "-mfloat-abi=hard"]
    assert core_flags(load_board("rpi-pico")) == ["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"]
    assert core_flags(load_board("nucleo-h743zi"))[-2:] == ["-mfpu=fpv5-d16", "-mfloat-abi=hard"]
    assert core_flags(load_board("mps3-an547")) == ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"]


def test_qemu_target_of_emulator_and_of_real_board():
    machine, emu, stand_in = qemu_target(load_board("mps2-an386"))
    assert (machine, emu.name, stand_in) == ("mps2-an386", "mps2-an386", False)
    target = qemu_target(load_board("stm32f4-discovery"))
    assert (target.machine, target.emulator_board.name, target.stand_in) == ("netduinoplus2", "netduinoplus2", True)
    # Cortex-M0+ on the Cortex-M0 microbit: same architecture (armv6-m).
    assert qemu_target(load_board("rpi-pico")).machine == "microbit"


@pytest.mark.needs_qemu
def test_every_qemu_machine_exists():
    help_text = subprocess.run(["qemu-system-arm", "-M", "help"], capture_output=True, text=True,
                               timeout=60).stdout
    machines = {line.split()[0] for line in help_text.splitlines()[1:] if line.strip()}
    for b in list_boards():
        assert qemu_target(b).machine in machines, b.name


# ----------------------------------------------------------------------------- schema errors

def _load_modified(tmp_path, name, change, stem=None) -> BoardError:
    data = _raw(name)
    change(data)
    path = _write(tmp_path, name, data, stem)
    with pytest.raises(BoardError) as exc:
        load_board_file(path)
    return exc.value


def test_unknown_key_names_file_field_and_suggests(tmp_path):
    err = _load_modified(tmp_path, "microbit-v2", lambda d: d["memory"]["ram"].update(sise="128K"))
    assert err.message.startswith(f"{tmp_path / 'microbit-v2.yaml'}: unknown field memory.ram.sise")
    assert "allowed here: note, origin, size" in err.message and "did you mean size?" in err.message
    err = _load_modified(tmp_path, "microbit-v2", lambda d: d.update(clock_mhz=64))
    assert "unknown field clock_mhz" in err.message and "did you mean clock_hz?" in err.message


def test_bad_size_is_one_sentence(tmp_path):
    err = _load_modified(tmp_path, "microbit-v2", lambda d: d["memory"]["ram"].update(size="lots"))
    assert err.message == (f"{tmp_path / 'microbit-v2.yaml'}: field memory.ram.size: expected a size such as "
                           "256K, 1M or a byte count, got 'lots'.")
    err = _load_modified(tmp_path, "microbit-v2", lambda d: d.update(stack_bytes="8 KB"))
    assert "field stack_bytes: expected a size such as 256K" in err.message


def test_missing_field(tmp_path):
    err = _load_modified(tmp_path, "microbit-v2", lambda d: d.pop("stack_bytes"))
    assert err.message == f"{tmp_path / 'microbit-v2.yaml'}: field stack_bytes is missing."
    err = _load_modified(tmp_path, "microbit-v2", lambda d: d["memory"].pop("flash"))
    assert "field memory.flash is missing" in err.message


def test_name_must_match_file(tmp_path):
    err = _load_modified(tmp_path, "microbit-v2", lambda d: None, stem="my-board")
    assert err.message == (f"{tmp_path / 'my-board.yaml'}: field name: expected 'my-board' (the file name), "
                           "got 'microbit-v2'.")


def test_core_and_fpu_are_checked_against_cores_yaml(tmp_path):
    err = _load_modified(tmp_path, "microbit-v2", lambda d: d.update(core="cortex-m5"))
    assert "field core: expected one of cortex-m0, cortex-m0plus" in err.message and "got 'cortex-m5'" in err.message
    err = _load_modified(tmp_path, "microbit-v2", lambda d: d.update(core="cortex-m0plus"))
    assert "field fpu: a cortex-m0plus takes one of none, got 'fpv4-sp-d16'" in err.message


def test_wrong_types_and_cross_field_rules(tmp_path):
    err = _load_modified(tmp_path, "microbit-v2", lambda d: d.update(clock_hz="64MHz"))
    assert "field clock_hz: expected an integer number of Hz such as 168000000, got '64MHz'" in err.message
    err = _load_modified(tmp_path, "microbit-v2", lambda d: d.update(cycle_counter="cyccnt"))
    assert "field cycle_counter: expected one of 'dwt' or 'systick'" in err.message
    err = _load_modified(tmp_path, "microbit-v2", lambda d: d["flashing"].pop("volume_label"))
    assert "field flashing: default method copy needs volume_label" in err.message
    err = _load_modified(tmp_path, "microbit-v2", lambda d: d["console"].pop("base"))
    assert "field console: a nrf52-uarte console needs 'base'" in err.message
    err = _load_modified(tmp_path, "microbit-v2",
                         lambda d: d["emulators"]["qemu"].update(machine="mps2-an386"))
    assert "field emulators.qemu: give exactly one of 'machine'" in err.message
    err = _load_modified(tmp_path, "microbit-v2", lambda d: d.update(stack_bytes="128K"))
    assert "leave no RAM" in err.message


def test_yaml_problems(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("name: dup\nname: dup\n")
    with pytest.raises(BoardError, match=r"dup.yaml: not valid YAML at line 2 \(duplicate key 'name'\)"):
        load_board_file(path)
    path.write_text("name: [unclosed\n")
    with pytest.raises(BoardError, match="not valid YAML at line"):
        load_board_file(path)
    path.write_text("- a list\n")
    with pytest.raises(BoardError, match="expected a mapping of board fields at the top level, got list"):
        load_board_file(path)


def test_several_errors_are_counted(tmp_path):
    def change(d):
        d.pop("stack_bytes")
        d["memory"]["ram"]["size"] = "lots"
    err = _load_modified(tmp_path, "microbit-v2", change)
    assert "(and 1 more problem)" in err.message and err.hint.startswith("Also: ")


# ----------------------------------------------------------------------------- lookup and search path

def test_unknown_board_suggests_close_names():
    with pytest.raises(BoardError) as exc:
        load_board("nucleo-l4r5")
    assert exc.value.message.startswith("unknown board 'nucleo-l4r5'; did you mean nucleo-l4r5zi")
    assert "tinyml boards list" in exc.value.hint
    with pytest.raises(BoardError, match="did you mean microbit or microbit-v2"):
        load_board("microbit2")
    with pytest.raises(BoardError, match=r"^unknown board 'zzzz'\.$"):
        load_board("zzzz")


def test_user_boards_dir_overrides_and_adds(tmp_path, monkeypatch):
    data = _raw("microbit-v2")
    data["memory"]["ram"]["size"] = "64K"
    _write(tmp_path, "microbit-v2", data)
    mine = _raw("microbit-v2")
    mine.update(name="my-board", title="My board")
    _write(tmp_path, "my-board", mine)

    assert load_board("microbit-v2").memory.ram.size == 128 * 1024
    b = load_board("microbit-v2", [tmp_path])
    assert b.memory.ram.size == 64 * 1024 and b.source_path == tmp_path / "microbit-v2.yaml"
    names = [x.name for x in list_boards([tmp_path])]
    assert names.count("microbit-v2") == 1 and "my-board" in names

    env_dir = tmp_path / "env"
    env_dir.mkdir()
    shutil.copy(tmp_path / "my-board.yaml", env_dir)
    monkeypatch.setenv("TINYML_BOARDS_DIR", str(env_dir))
    assert load_board("my-board").source_path == env_dir / "my-board.yaml"
    # --boards-dir comes before the environment variable.
    assert load_board("my-board", [tmp_path]).source_path == tmp_path / "my-board.yaml"
    assert search_dirs([tmp_path])[:2] == [tmp_path, env_dir]


def test_missing_boards_dirs_are_errors(tmp_path, monkeypatch):
    with pytest.raises(BoardError, match="--boards-dir .*nope is not a directory"):
        load_board("microbit-v2", [tmp_path / "nope"])
    monkeypatch.setenv("TINYML_BOARDS_DIR", str(tmp_path / "gone"))
    with pytest.raises(BoardError, match="TINYML_BOARDS_DIR names .*gone, which is not a directory"):
        list_boards()


def test_user_cores_yaml_adds_a_core(tmp_path):
    (tmp_path / "cores.yaml").write_text(yaml.safe_dump({"cortex-m85": {
        "arch": "armv8.1-m.main", "flags": ["-mcpu=cortex-m85", "-mthumb"],
        "fpu_flags": {"auto": ["-mfloat-abi=hard"]}, "dsp": True, "dwt_cyccnt": True}}))
    data = _raw("mps3-an547")
    data.update(name="my-m85", core="cortex-m85")
    _write(tmp_path, "my-m85", data)
    board = load_board("my-m85", [tmp_path])
    assert core_flags(board, [tmp_path]) == ["-mcpu=cortex-m85", "-mthumb", "-mfloat-abi=hard"]
    with pytest.raises(BoardError, match="field core: expected one of"):
        load_board_file(tmp_path / "my-m85.yaml")  # without the user's cores.yaml


def test_stand_in_must_share_the_architecture(tmp_path):
    data = _raw("microbit-v2")
    data["emulators"]["qemu"]["board"] = "microbit"
    path = _write(tmp_path, "microbit-v2", data)
    with pytest.raises(BoardError, match=r"field emulators.qemu.board: microbit has a cortex-m0 \(armv6-m\), "
                                         r"not the armv7e-m"):
        qemu_target(load_board_file(path))
    data["emulators"]["qemu"]["board"] = "nrf52840-dk"
    path = _write(tmp_path, "microbit-v2", data)
    with pytest.raises(BoardError, match="nrf52840-dk is not an emulator machine"):
        qemu_target(load_board_file(path))


# ----------------------------------------------------------------------------- CLI

def _cli(capsys, *argv) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        cli_main(list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_cli_boards_list_and_show(capsys, tmp_path):
    code, out, _ = _cli(capsys, "boards", "list", "--json")
    rows = json.loads(out)
    assert code == 0 and {r["name"] for r in rows} >= DEV_BOARDS | set(EMULATORS)
    pico = next(r for r in rows if r["name"] == "rpi-pico")
    assert (pico["core"], pico["clock_hz"], pico["flash_bytes"], pico["qemu_board"], pico["stand_in"]) == \
        ("cortex-m0plus", 125_000_000, 2 << 20, "microbit", True)

    code, out, _ = _cli(capsys, "boards", "list")
    assert code == 0 and "nucleo-l4r5zi" in out and "640K" in out

    code, out, _ = _cli(capsys, "boards", "show", "nucleo-l4r5zi", "--json")
    data = json.loads(out)
    assert code == 0 and data["memory"]["ram"] == {"origin": 0x20000000, "size": 640 * 1024,
                                                   "note": data["memory"]["ram"]["note"]}
    assert data["core_flags"][0] == "-mcpu=cortex-m4"
    assert data["qemu_target"] == {"machine": "mps2-an386", "emulator_board": "mps2-an386", "stand_in": True}

    code, out, _ = _cli(capsys, "boards", "show", "stm32f4-discovery")
    assert code == 0 and "USART2" in out and "netduinoplus2" in out

    code, _, err = _cli(capsys, "boards", "show", "stm32f4-disco")
    assert code == 2 and "unknown board 'stm32f4-disco'; did you mean stm32f4-discovery" in err

    data = _raw("microbit-v2")
    data["memory"]["ram"]["size"] = "lots"
    _write(tmp_path, "microbit-v2", data)
    code, _, err = _cli(capsys, "boards", "list", "--boards-dir", str(tmp_path))
    assert code == 2 and "field memory.ram.size: expected a size such as 256K" in err

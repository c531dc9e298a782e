"""`tinyml flash`: the exact command lines for every real board, and every error path, without hardware."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyml import flash as F
from tinyml import uf2
from tinyml.boards import list_boards, load_board
from tinyml.cli import cli
from tinyml.errors import BoardError, ConfigError, ToolError

BOARDS = {b.name: b for b in list_boards() if b.flashing is not None}
REAL_BOARDS = sorted(BOARDS)
METHOD_PAIRS = [(b.name, m) for b in BOARDS.values()
                for m in F.METHODS if all(getattr(b.flashing, a) is not None for a in F._NEEDS[m])]
NO_PROBE = "tinyml-test-no-such-probe"


def _image_for(board) -> bytes:
    """A 700-byte image the way the linker lays it out for `board`: boot stage (if the board has
    one, here an RP2040 boot2 with its CRC), then a vector table (stack at the top of RAM, Thumb
    reset handler in flash), then code."""
    head = b""
    if board.boot_stage is not None:
        stage = bytes((i * 7) & 0xFF for i in range(252))
        head = stage + F.crc32_mpeg2(stage).to_bytes(4, "little")
    reset = board.memory.flash.origin + len(head) + 0xC1
    vectors = board.memory.ram.end.to_bytes(4, "little") + reset.to_bytes(4, "little")
    body = head + vectors
    return body + bytes((i * 13 + 5) & 0xFF for i in range(700 - len(body)))


def _ihex(base: int, data: bytes) -> str:
    """Intel HEX as objcopy writes it: type-04 upper address records, 16 data bytes a line."""
    lines, upper = [], None

    def record(kind: int, address: int, payload: bytes) -> str:
        raw = bytes([len(payload), address >> 8 & 0xFF, address & 0xFF, kind]) + payload
        return ":" + (raw + bytes([-sum(raw) & 0xFF])).hex().upper()

    for off in range(0, len(data), 16):
        address = base + off
        if address >> 16 != upper:
            upper = address >> 16
            lines.append(record(0x04, 0, upper.to_bytes(2, "big")))
        lines.append(record(0x00, address & 0xFFFF, data[off:off + 16]))
    lines.append(record(0x01, 0, b""))
    return "\n".join(lines) + "\n"


IMAGES = {name: (_image_for(b), _ihex(b.memory.flash.origin, _image_for(b))) for name, b in BOARDS.items()}


@pytest.fixture()
def build(tmp_path, monkeypatch):
    """A build dir with firmware.{elf,hex,bin} for every real board, and no mounted volumes."""
    monkeypatch.setenv("TINYML_VOLUME_ROOTS", str(tmp_path / "mnt"))
    monkeypatch.setattr(F, "_lsblk_mounts", lambda: [])
    root = tmp_path / "b"
    for name in REAL_BOARDS:
        out = F.firmware_dir(root, name, "aot")
        out.mkdir(parents=True)
        image, hex_text = IMAGES[name]
        (out / "firmware.elf").write_bytes(b"\x7fELF, not read: the .hex beside it is checked")
        (out / "firmware.hex").write_text(hex_text)
        (out / "firmware.bin").write_bytes(image)
    return root


def test_there_are_real_boards_and_every_method_is_covered():
    assert len(REAL_BOARDS) >= 5
    assert {m for _, m in METHOD_PAIRS} == set(F.METHODS)


def test_crc32_mpeg2_catalogue_check_value():
    assert F.crc32_mpeg2(b"123456789") == 0x0376E6E7


@pytest.mark.parametrize("name", REAL_BOARDS)
def test_dry_run_default_method_of_every_real_board(build, name):
    board = load_board(name)
    fl = board.flashing
    fw_dir = F.firmware_dir(build, name, "aot")
    result = F.flash(name, build_dir=build, dry_run=True)
    assert result.dry_run and result.method == fl.default
    last = result.steps[-1]
    if fl.default == "pyocd":
        assert last.argv == [*F.pyocd_argv0(), "flash", "--no-wait", "-t", fl.pyocd_target,
                             str(fw_dir / "firmware.hex")]
        if F.pyocd_target_status(fl.pyocd_target) == "missing":
            assert result.steps[0].kind == "pack-install"
            assert result.steps[0].argv == [*F.pyocd_argv0(), "pack", "install", fl.pyocd_target]
            assert "CMSIS-Pack" in result.steps[0].description
        else:
            assert len(result.steps) == 1
    elif fl.default == "copy":
        assert last.kind == "copy" and last.src == fw_dir / "firmware.hex"
        assert str(last.dest) == f"<volume {fl.volume_label}>/firmware.hex"
        assert any("is not mounted now" in n and str(build.parent / "mnt" / fl.volume_label) in n
                   for n in result.notes)
    elif fl.default == "uf2":
        assert [s.kind for s in result.steps] == ["write", "copy"]
        written = fw_dir / "firmware.uf2"
        assert result.steps[0].dest == written and last.src == written
        image = uf2.uf2_to_bin(written.read_bytes(), family=fl.uf2_family)
        assert image.base_address == board.memory.flash.origin
        assert image.image[:700] == (fw_dir / "firmware.bin").read_bytes()
        assert image.blocks == 3
    else:  # openocd as a default
        assert last.argv[0] == "openocd"


@pytest.mark.parametrize("name, method", METHOD_PAIRS)
def test_dry_run_every_method_each_board_supports(build, name, method):
    board = load_board(name)
    fl = board.flashing
    fw_dir = F.firmware_dir(build, name, "aot")
    result = F.flash(name, build_dir=build, method=method, probe_id="0672FF48", dry_run=True)
    last = result.steps[-1]
    if method == "pyocd":
        assert last.argv[-5:] == ["-t", fl.pyocd_target, "--uid", "0672FF48", str(fw_dir / "firmware.hex")]
    elif method == "openocd":
        configs = [fl.openocd_config] if isinstance(fl.openocd_config, str) else list(fl.openocd_config)
        expected = ["openocd"]
        for cfg in configs:
            expected += ["-f", cfg]
        expected += ["-c", "adapter serial 0672FF48",
                     "-c", f"program {{{fw_dir / 'firmware.elf'}}} verify reset exit"]
        assert last.argv == expected
        scripts = F.openocd_scripts_dir()
        if scripts is not None:  # the configs the board files name exist in the installed OpenOCD
            assert all((scripts / c).is_file() for c in configs), configs
    else:
        assert last.kind == "copy"
        assert any("--probe-id is for pyocd and openocd" in n for n in result.notes)


def test_cli_dry_run_json_for_every_real_board(build):
    runner = CliRunner()
    for name in REAL_BOARDS:
        res = runner.invoke(cli, ["flash", "--board", name, "--dry-run", "--json", "-B", str(build)])
        assert res.exit_code == 0, (name, res.output)
        data = json.loads(res.output)
        assert data["board"] == name and data["dry_run"] is True and data["steps"]
        assert all(s["display"] for s in data["steps"])
    human = runner.invoke(cli, ["flash", "--board", REAL_BOARDS[0], "--dry-run", "-B", str(build)])
    assert human.exit_code == 0 and "would flash" in human.output and "dry run" in human.output


def test_bin_files_carry_their_load_address(build):
    board = load_board("nucleo-h743zi")
    fw = F.firmware_dir(build, board.name, "aot") / "firmware.bin"
    py = F.plan_flash(board.name, build_dir=build, method="pyocd", firmware=fw)
    assert py.steps[-1].argv[-3:] == ["--base-address", "0x8000000", str(fw)]
    oo = F.plan_flash(board.name, build_dir=build, method="openocd", firmware=fw)
    assert oo.steps[-1].argv[-1] == f"program {{{fw}}} 0x8000000 verify reset exit"


def test_firmware_option_takes_a_folder_or_a_sibling(build):
    fw_dir = F.firmware_dir(build, "nucleo-h743zi", "aot")
    by_dir = F.plan_flash("nucleo-h743zi", build_dir=build, method="openocd", firmware=fw_dir)
    assert by_dir.firmware == fw_dir / "firmware.elf"
    as_is = F.plan_flash("nucleo-h743zi", build_dir=build, method="openocd", firmware=fw_dir / "firmware.bin")
    assert as_is.firmware == fw_dir / "firmware.bin"        # a .bin is accepted as it is
    sibling = F.plan_flash("nucleo-h743zi", build_dir=build, method="copy", firmware=fw_dir / "firmware.elf")
    assert sibling.firmware == fw_dir / "firmware.hex"      # copy takes no .elf: the .hex beside it
    (fw_dir / "firmware.hex").unlink()
    (fw_dir / "firmware.bin").unlink()
    with pytest.raises(ConfigError, match=r"flashing with copy needs a \.hex or \.bin file, and there is none for .*firmware\.elf"):
        F.plan_flash("nucleo-h743zi", build_dir=build, method="copy", firmware=fw_dir / "firmware.elf")


# ------------------------------------------------------------------------- error paths

def test_missing_firmware_says_to_build(tmp_path):
    with pytest.raises(ConfigError) as err:
        F.flash("stm32f4-discovery", build_dir=tmp_path / "empty", dry_run=True)
    assert err.value.message == (f"no firmware for board stm32f4-discovery in {tmp_path / 'empty' / 'firmware'}; "
                                 f"run `tinyml build --board stm32f4-discovery -B {tmp_path / 'empty'}` first "
                                 f"(or pass --firmware PATH).")
    with pytest.raises(ConfigError, match="--firmware .* does not exist"):
        F.flash("stm32f4-discovery", build_dir=tmp_path, firmware=tmp_path / "nope.hex", dry_run=True)


def test_runtime_choice_ignores_emulator_variants(build):
    F.firmware_dir(build, "nucleo-h743zi", "aot-qemu").mkdir(parents=True)   # an emulator build
    assert F.plan_flash("nucleo-h743zi", build_dir=build).firmware.parent.parent.name == "nucleo-h743zi-aot"
    F.firmware_dir(build, "nucleo-h743zi", "tflm").mkdir(parents=True)
    with pytest.raises(ConfigError, match="runtimes aot, tflm; choose one with --runtime"):
        F.plan_flash("nucleo-h743zi", build_dir=build)
    with pytest.raises(ConfigError, match=r"no firmware\.hex in .*nucleo-h743zi-tflm"):
        F.plan_flash("nucleo-h743zi", build_dir=build, runtime="tflm")


def test_unknown_method_and_emulator_board_and_missing_field(build):
    with pytest.raises(ConfigError, match="unknown flashing method 'jtag'; choose one of pyocd, openocd, uf2, copy"):
        F.flash("nucleo-h743zi", build_dir=build, method="jtag", dry_run=True)
    with pytest.raises(BoardError, match=r"board mps2-an386 has no flashing section .*boards that can be flashed: "):
        F.flash("mps2-an386", build_dir=build, dry_run=True)
    with pytest.raises(BoardError, match=r"board sparkfun-edge has no flashing.uf2_family .*which flashing with uf2 needs"):
        F.flash("sparkfun-edge", build_dir=build, method="uf2", dry_run=True)
    res = CliRunner().invoke(cli, ["flash", "--board", "nucleo-h743zi", "--probe", "jtag", "-B", str(build)])
    assert res.exit_code == 2 and "'jtag' is not one of" in res.output


def test_no_pyocd_probe_is_one_sentence(build):
    with pytest.raises(ToolError) as err:
        F.flash("nucleo-h743zi", build_dir=build, probe_id=NO_PROBE)
    assert err.value.message == (
        "no debug probe found for board nucleo-h743zi: pyOCD looked on USB for CMSIS-DAP (DAPLink), ST-LINK "
        f"and Raspberry Pi Debugprobe/picoprobe probes with unique ID {NO_PROBE} and found none.")
    assert not (build / "flash").exists()      # nothing ran


def test_several_probes_need_a_probe_id(build, monkeypatch):
    monkeypatch.setattr(F, "connected_pyocd_probes",
                        lambda probe_id: [("066DFF1", "STM32 STLink"), ("0240000", "DAPLink CMSIS-DAP")])
    with pytest.raises(ToolError, match=r"2 debug probes are connected \(066DFF1 \(STM32 STLink\), .*--probe-id"):
        F.flash("nucleo-h743zi", build_dir=build)


@pytest.mark.skipif(shutil.which("openocd") is None, reason="openocd not installed (apt-get install openocd)")
def test_no_openocd_probe_is_one_sentence_with_the_log(build):
    with pytest.raises(ToolError) as err:
        F.flash("nucleo-h743zi", build_dir=build, method="openocd", probe_id=NO_PROBE)
    log = build / "flash" / "nucleo-h743zi-openocd.log"
    assert err.value.message == (
        "no debug probe found for board nucleo-h743zi: OpenOCD looked on USB for the adapter that "
        f"board/st_nucleo_h743zi.cfg names with serial {NO_PROBE} and found none (log: {log}).")
    assert "adapter serial " + NO_PROBE in log.read_text()


def test_openocd_failure_classification():
    from tinyml.proc import RunResult

    no_probe = RunResult(["openocd"], 1, "", "Error: unable to find a matching CMSIS-DAP device\n** OpenOCD init failed **",
                         Path("x.log"))
    err = F._openocd_failed("rpi-pico", ["interface/cmsis-dap.cfg", "target/rp2040.cfg"], None, no_probe)
    assert err.message.startswith("no debug probe found for board rpi-pico: OpenOCD looked on USB for the "
                                  "adapter that interface/cmsis-dap.cfg, target/rp2040.cfg names and found none")
    other = RunResult(["openocd"], 1, "", "Error: checksum mismatch - attempting binary compare\nverify failed",
                      Path("x.log"))
    err = F._openocd_failed("rpi-pico", ["x.cfg"], None, other)
    assert err.message.startswith("openocd failed to program board rpi-pico with exit code 1")
    assert "verify failed" in err.hint


def test_openocd_not_installed(build, monkeypatch):
    monkeypatch.setenv("PATH", str(build / "no-bin"))
    with pytest.raises(ToolError, match=r"'openocd' was not found on PATH; install the Debian package"):
        F.flash("nucleo-h743zi", build_dir=build, method="openocd")
    plan = F.flash("nucleo-h743zi", build_dir=build, method="openocd", dry_run=True)
    assert any("openocd is not installed" in n for n in plan.notes)


@pytest.mark.parametrize("name, method", [("rpi-pico", "uf2"), ("microbit-v2", "copy")])
def test_no_volume_is_one_sentence_listing_where_it_looked(build, name, method):
    label = load_board(name).flashing.volume_label
    with pytest.raises(ToolError) as err:
        F.flash(name, build_dir=build)
    kind = "UF2 bootloader" if method == "uf2" else "ST-LINK / DAPLink mass-storage"
    assert err.value.message == (f"no mounted {kind} volume labelled {label} for board {name}: looked in "
                                 f"{build.parent / 'mnt' / label}, lsblk's mounted volume labels.")
    assert "--volume" in err.value.hint
    res = CliRunner().invoke(cli, ["flash", "--board", name, "-B", str(build)])
    assert isinstance(res.exception, ToolError)     # main() turns it into one line and exit code 2


def test_cli_error_is_one_line_and_exit_2(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "tinyml", "flash", "--board", "rpi-pico", "-B", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.startswith("error: no firmware for board rpi-pico in ") and "Traceback" not in r.stderr


def test_default_volume_roots(monkeypatch):
    monkeypatch.delenv("TINYML_VOLUME_ROOTS", raising=False)
    monkeypatch.setenv("USER", "ada")
    assert F.volume_roots() == [Path("/media/ada"), Path("/run/media/ada"), Path("/media"), Path("/Volumes")]


def test_volume_found_by_lsblk_label(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_VOLUME_ROOTS", str(tmp_path / "none"))
    mount = tmp_path / "mnt-sdb1"
    mount.mkdir()
    found, looked = F.find_volume("RPI-RP2", lsblk=lambda: [("OTHER", "/"), ("rpi-rp2", str(mount))])
    assert found == mount and looked[-1] == "lsblk's mounted volume labels"


def test_uf2_and_copy_onto_a_mounted_volume(build, tmp_path):
    # A folder named like the label under a mount root stands in for the mounted USB drive.
    pico = tmp_path / "mnt" / "RPI-RP2"
    pico.mkdir(parents=True)
    result = F.flash("rpi-pico", build_dir=build)
    assert not result.dry_run
    copied = (pico / "firmware.uf2").read_bytes()
    image = uf2.uf2_to_bin(copied, family=0xE48BFF56)
    assert image.base_address == 0x10000000
    assert image.image[:700] == (F.firmware_dir(build, "rpi-pico", "aot") / "firmware.bin").read_bytes()
    assert any("valid rp2040-boot2" in n for n in result.notes)

    microbit = tmp_path / "mnt" / "MICROBIT"
    microbit.mkdir()
    F.flash("microbit-v2", build_dir=build)
    assert (microbit / "firmware.hex").read_text() == _ihex(0, _image_for(BOARDS["microbit-v2"]))

    other = tmp_path / "elsewhere"
    other.mkdir()
    F.flash("microbit-v2", build_dir=build, volume=other, firmware=F.firmware_dir(build, "microbit-v2", "aot") / "firmware.bin")
    assert (other / "firmware.bin").read_bytes() == (F.firmware_dir(build, "microbit-v2", "aot") / "firmware.bin").read_bytes()


def test_rp2040_image_without_boot2_is_refused(build):
    fw = F.firmware_dir(build, "rpi-pico", "aot") / "firmware.bin"
    fw.write_bytes(bytes(700))
    with pytest.raises(ConfigError, match=r"would not boot on board rpi-pico: its first 256 bytes are not a boot2 "
                                          r"stage \(CRC-32/MPEG-2 of bytes 0-251 is 0x[0-9a-f]{8}, bytes 252-255 "
                                          r"hold 0x00000000\)"):
        F.flash("rpi-pico", build_dir=build, dry_run=True)
    assert not fw.with_suffix(".uf2").exists()


def test_a_given_uf2_is_validated_not_rewritten(build, tmp_path):
    board = load_board("rpi-pico")
    data = uf2.bin_to_uf2(_image_for(board), 0x10000000, 0xE48BFF56)
    good = tmp_path / "app.uf2"
    good.write_bytes(data)
    result = F.flash("rpi-pico", build_dir=build, firmware=good, dry_run=True)
    assert [s.kind for s in result.steps] == ["copy"] and result.steps[0].src == good
    wrong_family = tmp_path / "nrf.uf2"
    wrong_family.write_bytes(uf2.bin_to_uf2(_image_for(board), 0x10000000, 0xADA52840))
    with pytest.raises(ConfigError, match="no flashable block for family 0xe48bff56"):
        F.flash("rpi-pico", build_dir=build, firmware=wrong_family, dry_run=True)
    wrong_base = tmp_path / "low.uf2"
    wrong_base.write_bytes(uf2.bin_to_uf2(_image_for(board), 0x20000000, 0xE48BFF56))
    with pytest.raises(ConfigError, match=r"low.uf2 writes 0x20000000-0x200002ff, outside board rpi-pico's flash 0x10000000-0x101fffff"):
        F.flash("rpi-pico", build_dir=build, firmware=wrong_base, dry_run=True)


# ------------------------------------------------------------------------- image checks

def test_intel_hex_reader_on_hand_written_records(tmp_path):
    path = tmp_path / "a.hex"
    # objcopy style: upper address 0x0800, 4 bytes at 0x08000000, 2 bytes at 0x08000004, a gap,
    # 1 byte at 0x08000010, start address record, end of file. Checksums by hand, e.g. the
    # second record: 0x04+0x00+0x00+0x00+0xB0+0x26+0x00+0x20 = 0xFA, so 0x100 - 0xFA = 0x06.
    path.write_text(":020000040800F2\n"
                    ":04000000B026002006\n"
                    ":02000400D90021\n"
                    ":01001000AA45\n"
                    ":04000005080000D916\n"
                    ":00000001FF\n")
    assert F.read_ihex(path) == [(0x08000000, bytes.fromhex("B0260020D900")), (0x08000010, b"\xAA")]
    path.write_text(":04000000B0260020FF\n")
    with pytest.raises(ConfigError, match="line 1 fails its checksum"):
        F.read_ihex(path)
    path.write_text("S00F000068656C6C6F\n")
    with pytest.raises(ConfigError, match="not an Intel HEX record"):
        F.read_ihex(path)


def test_test_hex_writer_round_trips_through_the_reader(tmp_path):
    data = bytes(range(256)) * 3
    path = tmp_path / "b.hex"
    path.write_text(_ihex(0x0800FF80, data))        # crosses a 64 KiB boundary
    assert F.read_ihex(path) == [(0x0800FF80, data)]


def test_firmware_for_another_board_is_refused_before_flashing(build):
    f4 = F.firmware_dir(build, "stm32f4-discovery", "aot") / "firmware.hex"
    with pytest.raises(ConfigError, match=r"initial stack pointer 0x20020000 at 0x8000000 is not in board "
                                          r"nucleo-h743zi's RAM 0x24000000-0x2407ffff; it was built for another "
                                          r"memory map \(rebuild with `tinyml build --board nucleo-h743zi`\)"):
        F.flash("nucleo-h743zi", build_dir=build, firmware=f4, dry_run=True)
    nrf = F.firmware_dir(build, "microbit-v2", "aot") / "firmware.hex"     # linked at 0x0
    with pytest.raises(ConfigError, match=r"writes 0x0-0x2bb, outside board nucleo-h743zi's flash "
                                          r"0x8000000-0x81fffff"):
        F.flash("nucleo-h743zi", build_dir=build, firmware=nrf, dry_run=True)
    board = BOARDS["nucleo-h743zi"]
    even = bytearray(_image_for(board))
    even[4:8] = (0x08000100).to_bytes(4, "little")                       # reset handler without Thumb bit
    with pytest.raises(ConfigError, match="reset vector 0x8000100 at 0x8000004 is not Thumb code"):
        F.check_image(board, [(0x08000000, bytes(even))], Path("x.bin"))
    note = F.check_image(board, [(0x08000000, _image_for(board))], Path("x.bin"))
    assert note == ("x.bin: 700 bytes at 0x8000000-0x80002bb in flash; vector table at 0x8000000 "
                    "(stack 0x24080000, reset 0x80000c1).")


def test_pyocd_failure_without_a_probe_is_classified(build, monkeypatch):
    # pyOCD's own wording when the probe vanished between our USB check and its run (pyocd 0.46).
    from tinyml.proc import RunResult

    monkeypatch.setattr(F, "connected_pyocd_probes", lambda probe_id: [("0672FF48", "STM32 STLink")])
    monkeypatch.setattr("tinyml.proc.run", lambda argv, **kw: RunResult(
        list(argv), 1, "", "No connected debug probe matches unique ID '0672FF48'\n"
        "0001801 E No target device available [load_cmd]\n", None))
    with pytest.raises(ToolError, match=r"^no debug probe found for board nucleo-h743zi: pyOCD looked on USB"):
        F.flash("nucleo-h743zi", build_dir=build, probe_id="0672FF48")

"""Fit check: verdicts on the shared models, hand-checked arithmetic, the measured path, the CLI."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml

from tinyml.boards import load_board
from tinyml.check import (_half_width, _largest_pair, check_fit, check_to_build, elf_sizes, estimate,
                          load_footprint, model_facts)
from tinyml.cli import main as cli_main
from tinyml.errors import ConfigError
from tinyml.resources import data_dir
from tinyml.tflite_model import Operator, Tensor, TFLiteModel


@pytest.fixture(autouse=True)
def _no_env_boards(monkeypatch, tmp_path):
    monkeypatch.delenv("TINYML_BOARDS_DIR", raising=False)
    # No TFLM arena records of this machine's cache: the host figures are checked here.
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def facts(shared_models):
    """Model facts of the four MLPerf Tiny models (computed once: each runs tflite-micro)."""
    return {m: model_facts(shared_models / f"{m}.tflite")
            for m in ("ad01_int8", "kws_ref_model", "vww_96_int8", "pretrainedResnet_quant")}


def _footprint_yaml(runtime: str) -> dict:
    return yaml.safe_load((data_dir("firmware_templates") / runtime / "footprint.yaml").read_text())


def _by_name(budget, prefix: str) -> int:
    return next(i.bytes for i in budget.items if i.name.startswith(prefix))


# ----------------------------------------------------------------------------- verdicts

# (model, board, runtime) -> fits, for the boards the issue names and the edges of the registry.
VERDICTS = [
    ("vww_96_int8", "microbit-v2", "aot", True),
    ("vww_96_int8", "microbit-v2", "tflm", True),
    ("vww_96_int8", "nucleo-l4r5zi", "aot", True),
    ("vww_96_int8", "nucleo-l4r5zi", "tflm", True),
    ("vww_96_int8", "b-l475e-iot01a", "aot", False),    # 96 KB SRAM1: arena + image + stack + 10 %
    ("vww_96_int8", "microbit", "aot", False),          # 16 KB of RAM
    ("vww_96_int8", "lm3s6965evb", "tflm", False),       # 256 KB flash < 333 KB .tflite
    ("ad01_int8", "microbit", "aot", False),            # 277 KB of weights > 256 KB flash
    ("ad01_int8", "rpi-pico", "aot", True),
    ("kws_ref_model", "microbit", "tflm", False),       # tflite-micro's arena alone is > 16 KB
    ("kws_ref_model", "lm3s6965evb", "aot", True),
    ("pretrainedResnet_quant", "stm32f4-discovery", "tflm", True),
    ("pretrainedResnet_quant", "mps3-an547", "aot", True),
]


@pytest.mark.parametrize("model,board,runtime,fits", VERDICTS)
def test_verdicts(facts, model, board, runtime, fits):
    r = estimate(facts[model], load_board(board), runtime)
    assert r.fits is fits, r.verdict()
    assert r.basis == "estimate"


def test_every_model_on_every_board_gets_a_consistent_verdict(facts):
    from tinyml.boards import list_boards
    for b in list_boards():
        for f in facts.values():
            for rt in ("aot", "tflm"):
                r = estimate(f, b, rt)
                assert r.flash.used_bytes == sum(i.bytes for i in r.flash.items)
                assert r.ram.used_bytes == sum(i.bytes for i in r.ram.items)
                assert not any(i.name.startswith("reserve") for i in r.ram.items)
                assert r.ram.reserve_bytes == b.ram_reserve_bytes
                assert r.fits == (r.flash.used_bytes <= b.memory.flash.size
                                  and r.ram.used_bytes + r.ram.reserve_bytes <= b.memory.ram.size)


# ----------------------------------------------------------------------------- arithmetic by hand

def _tflm_build(core: str, model: str) -> int:
    return next(b["text_bytes"] for b in _footprint_yaml("tflm")["cores"][core]["builds"] if b["model"] == model)


def test_kws_on_microbit_v2_tflm_by_hand(facts, shared_models):
    """Every tflm figure from its source: the file size, the linked cortex-m4 firmware, the board file."""
    board = load_board("microbit-v2")          # cortex-m4: 512 KB flash, 128 KB RAM, 8 KB stack
    r = estimate(facts["kws_ref_model"], board, "tflm")
    m4 = _footprint_yaml("tflm")["cores"]["cortex-m4"]
    model_bytes = (shared_models / "kws_ref_model.tflite").stat().st_size
    assert model_bytes == 53936
    # kws uses the operator set of the 6-operator build, linked by bench/measure_tflm_footprint.py;
    # BENCHMARKS.md measured 91,964 bytes of .text for TFLM's own build of it (within 1 %).
    code = _tflm_build("cortex-m4", "kws_ref_model")
    assert abs(code - 91964) <= 0.01 * 91964
    assert _by_name(r.flash, "TFLM + CMSIS-NN code") == code
    assert r.flash.used_bytes == model_bytes + code          # the figure includes the application
    assert r.flash.headroom_bytes == 524288 - 53936 - code
    assert r.flash.headroom_percent == pytest.approx(100 * (524288 - 53936 - code) / 524288)
    arena = facts["kws_ref_model"].tflm_arena_bytes
    reserve = math.ceil(131072 * 10 / 100)
    assert reserve == 13108
    expected_ram = arena + m4["runtime_ram_bytes"] + m4["application_ram_bytes"] + 8192
    assert r.ram.used_bytes == expected_ram and r.ram.reserve_bytes == reserve
    assert r.ram.headroom_bytes == 131072 - expected_ram - reserve
    assert r.fits


def test_kws_on_lm3s_aot_by_hand(facts):
    """aot on a cortex-m3: weights + per-operator code + the kernels it calls + application."""
    f = facts["kws_ref_model"]
    board = load_board("lm3s6965evb")          # 256 KB flash, 64 KB RAM, 4 KB stack
    m3 = _footprint_yaml("aot")["cores"]["cortex-m3"]
    r = estimate(f, board, "aot", reserve_percent=5)
    kernels = sum(m3["kernel_code_bytes"][k] for k in f.aot_kernels)
    flash = f.aot_weights_bytes + 13 * m3["per_operator_bytes"] + kernels + m3["application_code_bytes"]
    assert f.operator_count == 13
    assert r.flash.used_bytes == flash and r.flash.headroom_bytes == 262144 - flash
    # input 1x49x10x1 int8 + output 12 int8 live in the caller's buffers, not in the arena.
    assert f.io_bytes == 490 + 12
    ram = f.aot_arena_bytes + 502 + m3["runtime_ram_bytes"] + m3["application_ram_bytes"] + 4096
    assert r.ram.used_bytes == ram and r.reserve_percent == 5
    assert r.ram.reserve_bytes == math.ceil(65536 * 5 / 100)
    from tinyml.runtimes.aot import plan_arena
    from tinyml.tflite_model import load_model
    assert f.aot_arena_bytes == plan_arena(load_model(f.path)).arena_bytes


def test_tflm_code_lookup_and_scaling(facts):
    fp = load_footprint("tflm")
    # ad01 (FULLY_CONNECTED only) uses its own build; resnet (ADD, ...) its own; BENCHMARKS.md's
    # TFLM builds on the cortex-m4 (37,948 and 86,748 bytes) agree within 1 %.
    ad = estimate(facts["ad01_int8"], load_board("mps2-an386"), "tflm")
    assert _by_name(ad.flash, "TFLM + CMSIS-NN code") == _tflm_build("cortex-m4", "ad01_int8")
    assert abs(_tflm_build("cortex-m4", "ad01_int8") - 37948) <= 0.01 * 37948
    rn = estimate(facts["pretrainedResnet_quant"], load_board("mps2-an386"), "tflm")
    assert _by_name(rn.flash, "TFLM + CMSIS-NN code") == _tflm_build("cortex-m4", "pretrainedResnet_quant")
    assert abs(_tflm_build("cortex-m4", "pretrainedResnet_quant") - 86748) <= 0.01 * 86748
    # A core with linked TFLM firmwares uses its own figures, not the cortex-m4's scaled.
    for core, board in (("cortex-m55", "mps3-an547"), ("cortex-m3", "mps2-an385")):
        if fp.cores[core].basis == "measured":
            r = estimate(facts["ad01_int8"], load_board(board), "tflm")
            item = next(i for i in r.flash.items if i.name.startswith("TFLM"))
            assert item.bytes == _tflm_build(core, "ad01_int8") != _tflm_build("cortex-m4", "ad01_int8")
            assert item.basis == "measured" and not any("scaled" in n for n in r.notes)
    # Cores without a linked TFLM firmware scale the cortex-m4 figure and say so.
    m0 = fp.cores["cortex-m0plus"]
    assert m0.basis == "scaled estimate" and m0.scale > 1
    pico = estimate(facts["ad01_int8"], load_board("rpi-pico"), "tflm")
    item = next(i for i in pico.flash.items if i.name.startswith("TFLM"))
    assert item.bytes == math.ceil(_tflm_build("cortex-m4", "ad01_int8") * m0.scale) and item.basis == "estimate"
    assert any("scaled" in n for n in pico.notes)


def test_reserve_and_boot_stage_items(facts):
    r = estimate(facts["ad01_int8"], load_board("rpi-pico"), "aot", reserve_percent=0)
    assert r.ram.reserve.name == "reserve margin (0% of RAM)" and r.ram.reserve_bytes == 0
    assert _by_name(r.flash, "boot stage (rp2040-boot2-w25q080)") == 256
    with pytest.raises(ConfigError, match="not between 0 and 100"):
        estimate(facts["ad01_int8"], load_board("rpi-pico"), "aot", reserve_percent=100)


def test_baked_samples(facts):
    f = facts["vww_96_int8"]
    board = load_board("microbit-v2")
    plain = estimate(f, board, "aot")
    assert plain.fits
    # 10 vww inputs (96x96x3 bytes each) do not fit next to the model; the note says how many do.
    assert f.io_bytes - f.output_bytes == 27648
    free = plain.flash.headroom_bytes
    assert any(f"render it with at most {free // 27648} samples" in n for n in plain.notes)
    baked = check_fit(f.path, board, runtime="aot", samples=10, facts=f)
    assert _by_name(baked.flash, "baked test inputs (10 x 27,648 bytes)") == 276480
    assert baked.flash.used_bytes == plain.flash.used_bytes + 276480 and not baked.fits
    fewer = math.ceil((276480 - free) / 27648)
    noun = "input" if fewer == 1 else "inputs"
    assert f"Baking {fewer} fewer test {noun} (27,648 bytes each) would make it fit." in baked.suggestions


def test_users_never_see_developer_advice(facts):
    # A stale footprint table fails CI (tests/unit/test_figures.py); the check says nothing of it.
    for rt in ("aot", "tflm"):
        r = estimate(facts["kws_ref_model"], load_board("mps2-an386"), rt)
        assert not any("measure_footprint" in n or "bench/" in n for n in r.notes + r.suggestions)


# ----------------------------------------------------------------------------- advice

def test_flash_shortfall_advice(facts):
    r = check_fit(facts["ad01_int8"].path, "microbit", runtime="aot", facts=facts["ad01_int8"])
    assert not r.fits and not r.flash.fits
    text = "\n".join(r.suggestions)
    short = -r.flash.headroom_bytes
    assert f"Flash is short by {short:,} bytes" in text
    assert "already int8" in text and "pruning does not shrink a dense int8 tensor" in text
    assert "width multiplier of 0.5" in text
    assert "microbit-v2" in r.fits_on and "nucleo-l4r5zi" in r.fits_on and "microbit" not in r.fits_on


def test_ram_shortfall_advice(facts):
    r = check_fit(facts["vww_96_int8"].path, "b-l475e-iot01a", runtime="aot", facts=facts["vww_96_int8"])
    assert r.flash.fits and not r.ram.fits
    text = "\n".join(r.suggestions)
    assert f"RAM is short by {-r.ram.headroom_bytes:,} bytes" in text
    pair = facts["vww_96_int8"].largest_pair
    assert f"The largest activation pair is operator {pair.op_index} ({pair.opcode})" in text
    assert "sram2 32,768 bytes at 0x10000000" in text          # the board's other RAM
    assert "--reserve-percent" in text                          # 10 % of 96 KB covers the ~3 KB shortfall


def _tiny_model() -> TFLiteModel:
    """input [1,8,8,3] -> CONV 3x3 (16) -> DW 3x3 -> CONV 1x1 (32) -> AVG_POOL -> RESHAPE -> FC (10)."""
    shapes = [((1, 8, 8, 3), None), ((16, 3, 3, 3), "int8"), ((16,), "int32"), ((1, 8, 8, 16), None),
              ((1, 3, 3, 16), "int8"), ((16,), "int32"), ((1, 8, 8, 16), None),
              ((32, 1, 1, 16), "int8"), ((32,), "int32"), ((1, 8, 8, 32), None),
              ((1, 1, 1, 32), None), ((1, 32), None), ((10, 32), "int8"), ((10,), "int32"), ((1, 10), None)]
    tensors = []
    for i, (shape, dtype) in enumerate(shapes):
        data = None if dtype is None else np.zeros(shape, dtype=dtype)
        tensors.append(Tensor(i, f"t{i}", shape, dtype or "int8", data, np.array([0.1]), np.array([0])))
    ops = [Operator(0, "CONV_2D", [0, 1, 2], [3]), Operator(1, "DEPTHWISE_CONV_2D", [3, 4, 5], [6]),
           Operator(2, "CONV_2D", [6, 7, 8], [9]), Operator(3, "AVERAGE_POOL_2D", [9], [10]),
           Operator(4, "RESHAPE", [10], [11]), Operator(5, "FULLY_CONNECTED", [11, 12, 13], [14])]
    return TFLiteModel(Path("tiny.tflite"), 0, tensors, ops, [0], [14], "", 3, 1)


def test_width_multiplier_and_activation_pair_by_hand():
    model = _tiny_model()
    # Constants: conv 16*27=432 + bias 64; dw 144 + 64; 1x1 32*16=512 + 128; fc 10*32=320 + 40 = 1704.
    assert sum(t.nbytes for t in model.tensors if t.data is not None) == 1704
    # At width 0.5: the first conv keeps its 3 input channels (x0.5), the dw kernel halves with its
    # channels (x0.5), the 1x1 conv halves both sides (x0.25), the fc keeps its 10 outputs (x0.5);
    # biases halve except the fc's: 216+32 + 72+32 + 128+64 + 160+40 = 744.
    half_consts, half_pair = _half_width(model)
    assert half_consts == 744
    # The 1x1 conv reads 8*8*16 = 1024 bytes (written by the dw) and writes 8*8*32 = 2048 bytes.
    pair = _largest_pair(model)
    assert (pair.op_index, pair.opcode, pair.producer_index, pair.producer_opcode) == (2, "CONV_2D", 1,
                                                                                      "DEPTHWISE_CONV_2D")
    assert (pair.input_bytes, pair.output_bytes, pair.total_bytes) == (1024, 2048, 3072)
    # ... which width 0.5 halves to 512 + 1024; the first conv (fixed 192-byte input) needs 192 + 512.
    assert half_pair == 1536


# ----------------------------------------------------------------------------- after a build

def _elf(path: Path, sections: list[tuple[str, int, int, int]]) -> Path:
    """A minimal ELF32 LE with the given (name, sh_type, sh_flags, size) sections."""
    names = b"\0" + b"".join(n.encode() + b"\0" for n, *_ in sections) + b".shstrtab\0"
    offsets, pos = [], 1
    for n, *_ in sections:
        offsets.append(pos)
        pos += len(n) + 1
    shstr_name = pos
    shoff = 52 + len(names)
    shoff += (-shoff) % 4
    headers = [struct.pack("<10I", *([0] * 10))]
    for (name, sh_type, flags, size), off in zip(sections, offsets):
        headers.append(struct.pack("<10I", off, sh_type, flags, 0x20000000, 0, size, 0, 0, 4, 0))
    headers.append(struct.pack("<10I", shstr_name, 3, 0, 0, 52, len(names), 0, 0, 1, 0))
    ident = b"\x7fELF\x01\x01\x01" + b"\0" * 9
    ehdr = ident + struct.pack("<HHIIIIIHHHHHH", 2, 40, 1, 0, 0, shoff, 0x05000400, 52, 32, 0, 40,
                               len(headers), len(headers) - 1)
    blob = ehdr + names
    blob += b"\0" * (shoff - len(blob)) + b"".join(headers)
    path.write_bytes(blob)
    return path


PROGBITS, NOBITS = 1, 8
ALLOC, WRITE, EXEC = 2, 1, 4


def test_elf_sizes_by_hand(tmp_path):
    elf = _elf(tmp_path / "fw.elf", [(".isr_vector", PROGBITS, ALLOC, 0x40), (".text", PROGBITS, ALLOC | EXEC, 5000),
                                     (".rodata", PROGBITS, ALLOC, 70000), (".data", PROGBITS, ALLOC | WRITE, 100),
                                     (".bss", NOBITS, ALLOC | WRITE, 60000), (".stack", NOBITS, ALLOC | WRITE, 8192),
                                     (".comment", PROGBITS, 0, 50)])
    s = elf_sizes(elf)
    assert (s.text, s.rodata, s.data, s.bss) == (5000, 70000 + 0x40, 100, 68192)
    assert s.flash_bytes == 75164 and s.ram_bytes == 68292 and s.stack_heap_reserved
    (tmp_path / "x.elf").write_bytes(b"nope")
    with pytest.raises(ConfigError, match="is not an ELF file"):
        elf_sizes(tmp_path / "x.elf")


def test_check_with_elf_is_measured(tmp_path, facts):
    elf = _elf(tmp_path / "fw.elf", [(".text", PROGBITS, ALLOC | EXEC, 10_000), (".rodata", PROGBITS, ALLOC, 250_000),
                                     (".data", PROGBITS, ALLOC | WRITE, 200), (".bss", NOBITS, ALLOC | WRITE, 90_000)])
    f = facts["vww_96_int8"]
    r = check_fit(f.path, "microbit-v2", elf_path=elf, facts=f)
    assert r.basis == "measured"
    assert r.flash.used_bytes == 260_200
    # No stack section in this ELF: the board's 8 KB is added, then the 10 % reserve.
    assert r.ram.used_bytes == 90_200 + 8192 and r.ram.reserve_bytes == 13108
    assert r.ram.headroom_bytes == 131072 - 111500 and r.fits


def test_size_json_of_the_same_model_is_used(tmp_path, facts):
    f = facts["kws_ref_model"]
    fw = tmp_path / "firmware" / "nucleo-l4r5zi-aot"
    (fw / "build").mkdir(parents=True)
    size = {"text": 9000, "rodata": 31000, "data": 100, "bss": 17000, "flash_bytes": 40100,
            "ram_bytes": 17100 + 8192, "stack_bytes": 8192, "heap_bytes": 0,
            "split": {"model": 31500, "runtime": 4000, "application": 4600},
            "split_ram": {"model": 16600, "runtime": 0, "application": 500}}
    (fw / "build" / "size.json").write_text(json.dumps(size))
    (fw / "tinyml_firmware.json").write_text(json.dumps({"model_sha256": f.sha256}))
    (tmp_path / "emulate").mkdir()
    (tmp_path / "emulate" / "nucleo-l4r5zi-qemu.json").write_text(
        json.dumps({"model_sha256": f.sha256, "runtime": "aot", "arena_bytes": 15000}))
    r, written = check_to_build(f.path, "nucleo-l4r5zi", tmp_path, runtime="aot", facts=f)
    assert r.basis == "measured"
    assert r.flash.used_bytes == 40100 and [i.name for i in r.flash.items][0] == "model (linked)"
    assert r.ram.used_bytes == 25292 and r.ram.reserve_bytes == math.ceil(655360 * 0.1)
    assert any("arena used at run time: 15,000 bytes" in n for n in r.notes)
    saved = json.loads(written.read_text())
    assert written == tmp_path / "check" / "nucleo-l4r5zi-aot.json"
    assert saved["basis"] == "measured" and saved["flash"]["used_bytes"] == 40100

    # A firmware built from another model is not used: the estimate says why.
    (fw / "tinyml_firmware.json").write_text(json.dumps({"model_sha256": "0" * 64}))
    r = check_fit(f.path, "nucleo-l4r5zi", build_dir=tmp_path, runtime="aot", facts=f)
    assert r.basis == "estimate" and "built from another model" in r.notes[0]


# ----------------------------------------------------------------------------- CLI

def _cli(capsys, *argv) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        cli_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_cli_fits_and_json_shape(capsys, tmp_path, shared_models):
    code, out, err = _cli(capsys, "check", shared_models / "vww_96_int8.tflite", "--board", "nucleo-l4r5zi",
                          "-B", tmp_path, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert {"board", "runtime", "basis", "model", "model_sha256", "fits", "verdict", "reserve_percent", "flash",
            "ram", "notes", "suggestions", "fits_on", "artifact"} <= set(data)
    for region in ("flash", "ram"):
        part = data[region]
        assert {"available_bytes", "used_bytes", "headroom_bytes", "headroom_percent", "fits", "items"} <= set(part)
        assert part["used_bytes"] == sum(i["bytes"] for i in part["items"])
        assert part["headroom_bytes"] == part["available_bytes"] - part["used_bytes"] - part["reserve_bytes"]
        assert all({"name", "bytes", "basis", "source"} <= set(i) for i in part["items"])
    assert data["flash"]["available_bytes"] == 2 << 20 and data["ram"]["available_bytes"] == 640 * 1024
    assert data["fits"] is True and data["basis"] == "estimate"
    assert json.loads((tmp_path / "check" / f"nucleo-l4r5zi-{data['runtime']}.json").read_text())["fits"] is True


def test_cli_does_not_fit_exits_1(capsys, tmp_path, shared_models):
    # vww's 96x96x3 input alone is larger than the microbit's 16 KB of RAM.
    code, out, err = _cli(capsys, "check", shared_models / "vww_96_int8.tflite", "--board", "microbit",
                          "-B", tmp_path)
    assert code == 1
    assert "does not fit microbit with the aot runtime: over" in err and "ram by" in err
    assert "RAM is short by" in out and "largest activation pair" in out
    code, out, _ = _cli(capsys, "check", shared_models / "kws_ref_model.tflite", "--board", "microbit",
                        "-B", tmp_path, "--json", "--runtime", "tflm")
    assert code == 1 and json.loads(out)["fits"] is False


def test_cli_reserve_percent_and_default_model(capsys, tmp_path, shared_models):
    code, _, err = _cli(capsys, "check", "--board", "microbit-v2", "-B", tmp_path)
    assert code == 2 and "quantize" in err and "model.tflite does not exist" in err
    (tmp_path / "quantize").mkdir()
    (tmp_path / "quantize" / "model.tflite").write_bytes((shared_models / "kws_ref_model.tflite").read_bytes())
    code, out, _ = _cli(capsys, "check", "--board", "microbit-v2", "-B", tmp_path, "--json",
                        "--reserve-percent", "25")
    data = json.loads(out)
    assert code == 0 and data["reserve_percent"] == 25
    assert data["ram"]["reserve_bytes"] == 32768 and data["ram"]["reserve"]["name"].startswith("reserve margin")
    assert not any(i["name"].startswith("reserve") for i in data["ram"]["items"])
    code, _, err = _cli(capsys, "check", "--board", "nucleo-l4r", "-B", tmp_path)
    assert code == 2 and "did you mean nucleo-l4r5zi" in err

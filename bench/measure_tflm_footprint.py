#!/usr/bin/env python3
"""Measure the tflm runtime's code per core from linked firmwares; writes
firmware_templates/tflm/footprint.yaml (read by `tinyml check --runtime tflm`).

For each core whose TFLM library is in the cache (or, with --build, is built):
tinyml's own tflm firmware (`render_firmware` device variant + `build_project`,
the firmware stage's Makefile, --gc-sections, newlib-nano) of each reference
model (../shared/models) is linked for the core's board, and the ELF is read:

  builds[].text_bytes      the firmware's code sections (.isr_vector, .text, .ARM.*,
                           .init_array): TFLM + CMSIS-NN for the model's operators,
                           the application and newlib (TFLM's vsnprintf logging);
                           .rodata/.data are not in it (the check says so).
  unmeasured_operator_bytes  per operator no measured build has: the growth from the
                           build with the fewest operators to the one with the most,
                           per extra operator, rounded up.
  runtime_ram_bytes        the largest static RAM of TFLM and tflm_model.cc outside
                           the arena (interpreter, op resolver, profiler, logging state).
  application_*            the aot table's figures of the same core (the same harness
                           application around either runtime).

Every board is linked with its flash and RAM enlarged to 64 MB (a copy of its
board file in a temporary --boards-dir): code size does not depend on the memory
map, and a reference model that does not fit the real part (the micro:bit's
256 KB) is still measured. The arena is a fixed 16 bytes: the firmware is only
linked, never run. A core without a library keeps a scaled estimate: the
measured cortex-m4 figure times the aot kernel library's size ratio
(firmware_templates/aot/footprint.yaml).

Usage:
    TINYML_TFLM_DIR=../shared/tflm .venv/bin/python bench/measure_tflm_footprint.py \
        [--cores cortex-m4 ...] [--build] [--models DIR] [--dry-run] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinyml import proc  # noqa: E402
from tinyml.artifacts import atomic_write_text  # noqa: E402
from tinyml.boards import core_flags, load_board, load_cores  # noqa: E402
from tinyml.check import elf_sizes  # noqa: E402
from tinyml.resources import data_dir  # noqa: E402

REFERENCE_MODELS = ("ad01_int8", "kws_ref_model", "vww_96_int8", "pretrainedResnet_quant")
# The board each core's firmware is linked for: the QEMU board of the core (its console and
# memory origins), the same as `tinyml bench` uses.
BOARDS = {"cortex-m0": "microbit", "cortex-m3": "mps2-an385", "cortex-m4": "mps2-an386",
          "cortex-m7": "mps2-an500", "cortex-m33": "mps2-an505", "cortex-m55": "mps3-an547"}
LINK_MEMORY_BYTES = 64 << 20


def link_board(name: str, boards_dir: Path) -> str:
    """A copy of the board file with flash and RAM of LINK_MEMORY_BYTES."""
    board = load_board(name)
    data = yaml.safe_load(Path(board.source_path).read_text())
    data["name"] = f"{name}-footprint"
    data["memory"]["flash"]["size"] = LINK_MEMORY_BYTES
    data["memory"]["ram"]["size"] = LINK_MEMORY_BYTES
    (boards_dir / f"{name}-footprint.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return data["name"]


def library_cached(board_name: str, boards_dir: Path) -> bool:
    from tinyml.runtimes.tflm import require_tree
    from tinyml.runtimes.tflm.firmware import library_config
    from tinyml.runtimes.tflm.library import (_existing, compiler_identity, libraries_dir, library_key,
                                              library_sources)

    tree = require_tree(None)
    config = library_config(core_flags(load_board(board_name, [boards_dir])), "-Os", "cmsis_nn", False)
    key, _ = library_key(tree, config, library_sources(tree, "cmsis_nn"),
                         compiler_identity(proc.require_tool("arm-none-eabi-gcc", "make setup")))
    return _existing(libraries_dir() / key, key) is not None


def measure_core(core: str, board_name: str, models: list[Path], work: Path, boards_dir: Path) -> dict:
    from tinyml.build import build_project
    from tinyml.firmware import bench_samples, render_firmware
    from tinyml.tflite_model import load_model

    board = load_board(board_name, [boards_dir])
    builds, runtime_ram = [], 0
    for model in models:
        project = render_firmware(model, board, work / f"{core}-{model.stem}", runtime="tflm",
                                  variant="device", samples=bench_samples(model, 1, seed=0),
                                  boards_dirs=[boards_dir], runtime_options={"arena_bytes": 16})
        built = build_project(project.dir)
        text = elf_sizes(built.elf).text
        ops = sorted(set(load_model(model).opcodes))
        builds.append({"model": model.stem, "operators": ops, "text_bytes": text,
                       "elf_sha256": built.size["elf_sha256"]})
        runtime_ram = max(runtime_ram, built.size["split_ram"]["runtime"] - project.arena_bytes)
        print(f"  {core:11} {model.stem:24} .text {text:7,} B  runtime RAM outside the arena "
              f"{built.size['split_ram']['runtime'] - project.arena_bytes:,} B", flush=True)
    few = min(builds, key=lambda b: (len(b["operators"]), b["text_bytes"]))
    many = max(builds, key=lambda b: (len(b["operators"]), b["text_bytes"]))
    extra_ops = len(many["operators"]) - len(few["operators"])
    per_op = math.ceil((many["text_bytes"] - few["text_bytes"]) / extra_ops) if extra_ops > 0 else None
    return {"board": board_name, "flags": list(core_flags(board)), "builds": builds,
            "runtime_ram_bytes": int(math.ceil(runtime_ram / 16) * 16), "unmeasured_operator_bytes": per_op,
            "per_op_from": (few["model"], many["model"])}


def yaml_text(results: dict, toolchain: str, tflm_ref: str) -> str:
    aot = yaml.safe_load((data_dir("firmware_templates") / "aot" / "footprint.yaml").read_text())["cores"]
    cores = load_cores()
    base = results.get("cortex-m4")
    out = [
        "# Per-core footprint of the tflm runtime (TFLite Micro + CMSIS-NN), read by `tinyml check`.",
        "# Generated by bench/measure_tflm_footprint.py from linked firmwares: do not edit by hand.",
        "#",
        f"# builds: the code sections of tinyml's tflm firmware (device variant, -Os, TFLM {tflm_ref[:12]}",
        f"#   with CMSIS-NN, {toolchain}, --gc-sections, newlib-nano) of each reference model, linked",
        "#   for the core's board with 64 MB of flash and RAM; application and newlib's vsnprintf (TFLM",
        "#   logging) are included (application_in_runtime), .rodata/.data are not. A model's code is the",
        "#   smallest build whose operators cover the model's.",
        "# unmeasured_operator_bytes: per operator no measured build has, the growth from the build with",
        "#   the fewest operators to the one with the most, per extra operator, rounded up.",
        "# runtime_ram_bytes: the largest static RAM of TFLM and tflm_model.cc outside the arena.",
        "# application_*: the aot table's figures for the core (the same harness application).",
        "# Cores without a linked TFLM firmware: scaled estimate = the cortex-m4 figures x (aot kernel",
        "#   library on that core / on cortex-m4).",
        "runtime: tflm",
        f"measured_with: \"{toolchain}; TFLM {tflm_ref}; bench/measure_tflm_footprint.py\"",
        "cores:",
    ]
    for core in cores:
        if core not in aot:
            continue
        a = aot[core]
        r = results.get(core)
        if r is None and base is None:
            continue
        out.append(f"  {core}:")
        if r is not None:
            out.append("    basis: measured")
            out.append(f"    # linked for {r['board']} (64 MB map); operators per extra op from "
                       f"{r['per_op_from'][0]} to {r['per_op_from'][1]}")
            src, scale = r, None
        else:
            scale = a["library_code_bytes"] / aot["cortex-m4"]["library_code_bytes"]
            out.append("    basis: scaled estimate")
            out.append(f"    reason: \"no TFLM firmware linked for {core}; cortex-m4 figures x aot kernel "
                       f"library {a['library_code_bytes']} / {aot['cortex-m4']['library_code_bytes']} bytes\"")
            out.append(f"    scale: {scale:.3f}")
            src = base
        flags = r["flags"] if r is not None else a.get("flags", [])
        out.append(f"    flags: [{', '.join(flags)}]")
        out.append(f"    application_code_bytes: {a['application_code_bytes']}")
        out.append(f"    application_ram_bytes: {a['application_ram_bytes']}")
        out.append(f"    runtime_ram_bytes: {src['runtime_ram_bytes']}")
        out.append("    application_in_runtime: true")
        out.append(f"    unmeasured_operator_bytes: {src['unmeasured_operator_bytes'] or 0}")
        out.append("    builds:")
        for b in src["builds"]:
            out.append(f"      - {{model: {b['model']}, operators: [{', '.join(b['operators'])}], "
                       f"text_bytes: {b['text_bytes']}}}")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=ROOT.parent / "shared" / "models")
    ap.add_argument("--cores", nargs="*", help=f"cores to measure (default: {', '.join(BOARDS)})")
    ap.add_argument("--build", action="store_true",
                    help="build a core's TFLM library when it is not cached (about 8 min per core on 2 cores)")
    ap.add_argument("--dry-run", action="store_true", help="print the table instead of writing it")
    ap.add_argument("--json", type=Path, help="also write the measurements as JSON here")
    args = ap.parse_args(argv)

    from tinyml.runtimes.tflm import require_tree

    tree = require_tree(None)
    toolchain = proc.run(["arm-none-eabi-gcc", "--version"], timeout_s=30).stdout.splitlines()[0]
    toolchain = re.sub(r"\s*\(.*?\)\s*", " ", toolchain).strip()
    models = [args.models / f"{m}.tflite" for m in REFERENCE_MODELS if (args.models / f"{m}.tflite").is_file()]
    if not models:
        raise SystemExit(f"no reference models in {args.models}")
    names = args.cores or list(BOARDS)
    unknown = [c for c in names if c not in BOARDS]
    if unknown:
        raise SystemExit(f"no board to link {', '.join(unknown)} for (known: {', '.join(BOARDS)})")
    work = Path(tempfile.mkdtemp(prefix="tinyml-tflm-footprint-"))
    results: dict[str, dict] = {}
    try:
        boards_dir = work / "boards"
        boards_dir.mkdir()
        for core in names:
            board = link_board(BOARDS[core], boards_dir)
            if not args.build and not library_cached(board, boards_dir):
                print(f"  {core:11} skipped: its TFLM library is not cached (run `tinyml tflm build "
                      f"--board {BOARDS[core]}` or pass --build)", flush=True)
                continue
            results[core] = measure_core(core, board, models, work, boards_dir)
            results[core]["board"] = BOARDS[core]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not results:
        raise SystemExit("no core measured")
    if "cortex-m4" not in results:
        raise SystemExit("cortex-m4 must be measured (the scale base of the other cores)")
    text = yaml_text(results, toolchain, tree.ref or "local tree")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.dry_run:
        print(text)
        return 0
    dest = data_dir("firmware_templates") / "tflm" / "footprint.yaml"
    atomic_write_text(dest, text)
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

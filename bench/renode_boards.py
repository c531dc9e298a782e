#!/usr/bin/env python3
"""Measure every board with a Renode platform and write the README's Renode table from the result.

For each board of the registry with an `emulators.renode` section, the MLPerf Tiny kws model
(../shared/models/kws_ref_model.tflite, aot runtime, -Os, the BENCHMARKS.md pattern input and one
seeded random input) runs twice with `tinyml bench`:
  - on Renode: the board's own device firmware (its UART driver, clock init, DWT) under
    renode-test; the figure is DWT CYCCNT, which counts executed instructions to within a quantum;
  - on QEMU: the emulator variant on the board's QEMU machine or its same-core stand-in; the
    figure is -icount instructions.
Both outputs are compared with the tflite-micro interpreter bit for bit. The host seconds of the
Renode run (render, build, renode-test) are recorded as measured, on the machine that ran this.

Writes docs/figures/renode-boards.json, then rewrites the table between the renode-boards markers
in README.md from that JSON (`--render-only` skips the measuring). tests/unit/test_renode_table.py
fails when README.md and the JSON disagree.

Usage:
    TINYML_RENODE_DIR=... TINYML_RENODE_VENV=... .venv/bin/python bench/renode_boards.py [--models DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JSON_PATH = ROOT / "docs" / "figures" / "renode-boards.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- renode-boards:begin (bench/renode_boards.py) -->", "<!-- renode-boards:end -->"
MODEL = "kws_ref_model"


def measure(models_dir: Path) -> dict:
    from tinyml.bench import bench
    from tinyml.boards import list_boards

    model = models_dir / f"{MODEL}.tflite"
    boards = sorted((b for b in list_boards() if b.emulators.renode is not None), key=lambda b: b.name)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tinyml-renode-boards-") as tmp:
        for board in boards:
            print(f"{board.name}: Renode", file=sys.stderr)
            started = time.monotonic()
            renode = bench([model], board.name, runtimes=["aot"], samples=2, emulator="renode",
                           build_dir=Path(tmp) / board.name / "renode")
            renode_s = time.monotonic() - started
            print(f"{board.name}: QEMU", file=sys.stderr)
            qemu = bench([model], board.name, runtimes=["aot"], samples=2, build_dir=Path(tmp) / board.name / "qemu")
            (r,), (q,) = renode.rows, qemu.rows
            for row in (r, q):
                if row["status"] != "ok":
                    raise SystemExit(f"{board.name}: {row['reason']}")
            rows.append({
                "board": board.name, "core": board.core, "platform": board.emulators.renode.platform,
                "console": board.emulators.renode.console.removeprefix("sysbus."),
                "renode_mips": board.emulators.renode.mips,
                "renode_dwt_cycles": r["per_inference"], "renode_agreement": r["agreement"],
                "qemu_machine": q["machine"], "qemu_stand_in": q["stand_in"],
                "qemu_instructions": q["per_inference"], "qemu_agreement": q["agreement"],
                "renode_host_s": round(renode_s, 1), "elf_sha256": r["elf_sha256"],
            })
    return {"model": MODEL, "runtime": "aot", "opt": "-Os",
            "input": "sample 0 = BENCHMARKS.md pattern (byte i = (i*37+11) & 0xFF); 2 samples per run",
            "renode": "1.15.1", "rows": rows}


def table(data: dict) -> str:
    lines = [
        f"| board | core | Renode platform | console | DWT cycles (Renode) | instructions (QEMU machine) "
        f"| agreement | Renode host s |",
        "|---|---|---|---|---:|---:|---|---:|",
    ]
    for r in data["rows"]:
        ag = r["renode_agreement"]
        machine = r["qemu_machine"] + (" stand-in" if r["qemu_stand_in"] else "")
        lines.append(f"| {r['board']} | {r['core']} | `{r['platform']}` | {r['console']} "
                     f"| {r['renode_dwt_cycles']:,} | {r['qemu_instructions']:,} ({machine}) "
                     f"| {ag['matching']}/{ag['total']} | {r['renode_host_s']:.1f} |")
    return "\n".join(lines)


def readme_block(data: dict) -> str:
    return (f"{BEGIN}\n{MODEL} ({data['runtime']}, {data['opt']}), per inference on the BENCHMARKS.md "
            f"pattern input; agreement is with the tflite-micro interpreter on both emulators.\n\n"
            f"{table(data)}\n{END}")


def render_readme(data: dict, readme: Path = README) -> None:
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme} has no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + readme_block(data) + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=ROOT.parent / "shared" / "models")
    parser.add_argument("--render-only", action="store_true", help="rewrite README.md from the committed JSON")
    args = parser.parse_args()
    if not args.render_only:
        data = measure(args.models)
        JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
        JSON_PATH.write_text(json.dumps(data, indent=2) + "\n")
        print(f"-> {JSON_PATH}", file=sys.stderr)
    render_readme(json.loads(JSON_PATH.read_text()))
    print(f"-> {README}", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""One markdown table from `tinyml bench --json` results of several boards.

Reads the bench-<board>.json files `tinyml bench` writes (under
<build-dir>/bench/) and prints a row per board, model and runtime: QEMU
-icount instructions per inference on the BENCHMARKS.md pattern input, flash
and RAM of the whole firmware, TFLM's arena as the device reported it, and
whether every output equals the tflite-micro interpreter's; rows that did not
run carry their one-sentence reason.

Usage:
    .venv/bin/python bench/bench_table.py build/bench-*/bench/bench-*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _n(v) -> str:
    return f"{v:,}" if isinstance(v, int) else ("" if v is None else str(v))


def table(paths: list[Path]) -> str:
    out = ["| board | opt | model | runtime | instructions | flash B | RAM B | arena B | agrees |",
           "|---|---|---|---|---:|---:|---:|---:|---|"]
    notes: dict[str, None] = {}
    for path in paths:
        data = json.loads(path.read_text())
        for r in data["rows"]:
            if r["status"] != "ok":
                reason = f"{r['runtime']} on {r['board']}: {r.get('reason', r['status'])}"
                notes.setdefault(reason)
                mark = f"not run ({list(notes).index(reason) + 1})"
                out.append(f"| {r['board']} | | {r['model']} | {r['runtime']} | {mark} | | | | |")
                continue
            agree = r["agreement"]
            ok = "yes" if agree["ratio"] == 1.0 else f"{agree['matching']}/{agree['total']}"
            out.append(f"| {r['board']} | {data.get('opt', '')} | {r['model']} | {r['runtime']} | "
                       f"{_n(r['per_inference'])} | {_n(r['flash_bytes'])} | {_n(r['ram_bytes'])} | "
                       f"{_n(r['arena_bytes'])} | {ok} |")
    text = "\n".join(out)
    if notes:
        text += "\n\n" + "\n".join(f"({i}) {n}" for i, n in enumerate(notes, 1))
    return text + "\n"


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    print(table([Path(p) for p in sys.argv[1:]]), end="")

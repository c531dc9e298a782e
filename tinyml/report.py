"""Stage `report`: everything the build directory knows, as JSON, Markdown
and one self-contained HTML page with plots.

It only reads artifacts (metrics.json files, analyze/analysis.json,
check/<board>-<runtime>.json, firmware/*/build/size.json, emulate/*.json); a stage that has
not run is simply absent from the report.
"""

from __future__ import annotations

import base64
import html
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .artifacts import atomic_dir, to_json
from .errors import ConfigError


@dataclass
class ReportResult:
    out_dir: Path
    data: dict


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON (line {exc.lineno}); re-run the stage that wrote it.",
                          path=path) from exc


def _power(board_name: str, boards_dirs) -> dict | None:
    try:
        from .boards import load_board
        board = load_board(board_name, boards_dirs)
    except Exception:
        return None
    power = getattr(board, "power", None)
    if power is None:
        return None
    return {"active_ua_per_mhz": power.active_ua_per_mhz, "supply_v": power.supply_v,
            "clock_hz": board.clock_hz}


def energy_estimate_uj(ticks: float, clock_hz: float, active_ua_per_mhz: float, supply_v: float) -> float:
    """Energy per inference in microjoules: time x current x voltage.

    time = ticks / clock; current = datasheet active current per MHz x MHz.
    Counting instructions as cycles makes this an estimate twice over.
    """
    seconds = ticks / clock_hz
    current_a = active_ua_per_mhz * 1e-6 * (clock_hz / 1e6)
    return seconds * current_a * supply_v * 1e6


def collect(build_dir: Path, boards_dirs=None) -> dict:
    build_dir = Path(build_dir)
    if not build_dir.is_dir():
        raise ConfigError(f"{build_dir} does not exist; run the pipeline (or `tinyml run`) first.",
                          path=build_dir)
    data: dict[str, Any] = {
        "build_dir": str(build_dir),
        "model": _load(build_dir / "model" / "metrics.json"),
        "optimize": _load(build_dir / "optimize" / "metrics.json"),
        "quantize": _load(build_dir / "quantize" / "metrics.json"),
        "analysis": _load(build_dir / "analyze" / "analysis.json"),
        "checks": {}, "sizes": {}, "emulations": {},
    }
    for path in sorted((build_dir / "check").glob("*.json")):
        data["checks"][path.stem] = _load(path)
    for path in sorted((build_dir / "firmware").glob("*/build/size.json")):
        data["sizes"][path.parent.parent.name] = _load(path)
    for path in sorted((build_dir / "emulate").glob("*.json")):
        run = _load(path)
        if not isinstance(run, dict) or "samples" not in run:
            continue
        ticks = [s["ticks"] for s in run["samples"] if s.get("ticks") is not None]
        power = _power(run.get("board", ""), boards_dirs)
        if ticks and power:
            median = statistics.median(ticks)
            run["energy_estimate"] = {
                "uj_per_inference": energy_estimate_uj(median, power["clock_hz"], power["active_ua_per_mhz"],
                                                       power["supply_v"]),
                "basis": (f"median {run.get('clock_unit', 'ticks')} / {power['clock_hz'] / 1e6:g} MHz x "
                          f"{power['active_ua_per_mhz']} uA/MHz x {power['supply_v']} V (datasheet); an estimate"),
            }
        data["emulations"][path.stem] = run
    return data


# ---------------------------------------------------------------- plots

def _plots(data: dict, out_dir: Path) -> dict[str, Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "tinyml", "figure.dpi": 100})
    made: dict[str, Path] = {}

    # accuracy vs model size across the variants run
    points = []
    q = data.get("quantize") or {}
    if q.get("float_tflite", {}).get("accuracy") is not None:
        points.append(("float TFLite", q["float_bytes"], q["float_tflite"]["accuracy"]))
    if (q.get("int8_tflm") or {}).get("accuracy") is not None:
        points.append(("int8 (host)", q["int8_bytes"], q["int8_tflm"]["accuracy"]))
    for name, run in data["emulations"].items():
        acc = (run.get("accuracy") or {}).get("device")
        if acc is not None and q.get("int8_bytes"):
            flash = (run.get("size") or {}).get("flash_bytes") or q["int8_bytes"]
            points.append((f"device {name}", flash, acc))
    if points:
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        for i, (label, size, acc) in enumerate(points):
            ax.scatter(size / 1024, acc * 100, s=40)
            # alternate label offsets: devices often share a size and an accuracy
            ax.annotate(label, (size / 1024, acc * 100), textcoords="offset points",
                        xytext=(6, 10 - 12 * (i % 3)), fontsize=8)
        ax.set_xlabel("size (KiB: model file, or firmware flash for devices)")
        ax.set_ylabel("accuracy (%)")
        ax.set_title("accuracy vs size")
        ax.grid(alpha=0.3)
        made["accuracy_vs_size"] = _save(fig, out_dir / "accuracy_vs_size.png")

    # per-layer cycles (or instructions) where measured, else MACs per layer
    analysis = data.get("analysis") or {}
    layered = [(n, r) for n, r in data["emulations"].items() if r.get("layers")]
    if layered:
        name, run = layered[0]
        per_op: dict[int, list[float]] = {}
        labels: dict[int, str] = {}
        for entry in run["layers"]:
            per_op.setdefault(entry["op_index"], []).append(entry["ticks"])
            labels[entry["op_index"]] = entry.get("opcode", "")
        ops = sorted(per_op)
        fig, ax = plt.subplots(figsize=(max(6.4, 0.35 * len(ops)), 3.6))
        ax.bar(range(len(ops)), [statistics.median(per_op[i]) for i in ops], color="#4c72b0")
        ax.set_xticks(range(len(ops)), [f"{i} {labels[i]}" for i in ops], rotation=70, fontsize=7)
        ax.set_ylabel(run.get("clock_unit", "ticks"))
        ax.set_title(f"per-layer {run.get('clock_unit', 'ticks')} ({name})")
        made["per_layer"] = _save(fig, out_dir / "per_layer.png")
    elif analysis.get("operators"):
        ops = analysis["operators"]
        fig, ax = plt.subplots(figsize=(max(6.4, 0.35 * len(ops)), 3.6))
        ax.bar(range(len(ops)), [o["macs"] for o in ops], color="#4c72b0")
        ax.set_xticks(range(len(ops)), [f"{o['index']} {o['opcode']}" for o in ops], rotation=70, fontsize=7)
        ax.set_ylabel("MACs")
        ax.set_title("MACs per layer (no per-layer measurement yet)")
        made["per_layer"] = _save(fig, out_dir / "per_layer.png")

    # arena usage across the operator sequence
    if analysis.get("live_bytes_per_op"):
        live = analysis["live_bytes_per_op"]
        fig, ax = plt.subplots(figsize=(6.4, 3.2))
        ax.step(range(len(live)), [b / 1024 for b in live], where="mid", label="live activations")
        peak = max(live)
        ax.axhline(peak / 1024, color="grey", ls=":", label=f"peak {peak:,} B")
        arenas = {r.get("runtime", "?"): r.get("arena_bytes") for r in data["emulations"].values()
                  if r.get("arena_bytes")}
        for runtime, arena in sorted(arenas.items()):
            ax.axhline(arena / 1024, ls="--", label=f"{runtime} arena {arena:,} B")
        ax.set_xlabel("operator index")
        ax.set_ylabel("KiB")
        ax.set_title("arena usage across the operator sequence")
        ax.legend(fontsize=8)
        made["arena"] = _save(fig, out_dir / "arena.png")
    return made


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt
    fig.tight_layout()
    # no timestamp or software metadata: same data, same PNG bytes
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
    return path


# ---------------------------------------------------------------- text

def _pct(v) -> str:
    return "–" if v is None else f"{v * 100:.2f}%"


def _num(v) -> str:
    return "–" if v is None else f"{v:,}"


def _tables(data: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for every table of the report."""
    tables = []
    model, q, opt, analysis = data.get("model") or {}, data.get("quantize") or {}, data.get("optimize"), data.get("analysis") or {}
    rows = []
    if model:
        rows.append(["model", str(model.get("zoo") or (model.get("imported") or {}).get("source", "?"))])
        rows.append(["parameters", _num(model.get("params"))])
    if opt:
        rows.append(["pruning", f"{opt['achieved_sparsity'] * 100:.1f}% sparsity ({opt['schedule']})"])
    if q:
        rows.append(["int8 model", f"{q.get('int8_bytes', 0):,} bytes"])
    if analysis:
        rows.append(["MACs per inference", _num(analysis.get("macs"))])
        rows.append(["operators", ", ".join(f"{k} x{v}" for k, v in analysis.get("opcode_counts", {}).items())])
    notes = sorted({(run.get("runtime_choice") or {}).get("note") for run in data["emulations"].values()} - {None})
    for note in notes:
        rows.append(["runtime", f"auto: {note}"])
    if rows:
        tables.append(("Pipeline", ["", ""], rows))

    acc_rows = []
    if model.get("accuracy") is not None:
        acc_rows.append(["Keras float (trained)", _pct(model.get("accuracy")), ""])
    if opt:
        acc_rows.append(["Keras float (pruned)", _pct(opt["after"].get("accuracy")), ""])
    if q:
        acc_rows.append(["TFLite float", _pct((q.get("float_tflite") or {}).get("accuracy")), ""])
        acc_rows.append(["TFLite int8, LiteRT", _pct((q.get("int8_tflite") or {}).get("accuracy")), ""])
        acc_rows.append(["TFLite int8, tflite-micro", _pct((q.get("int8_tflm") or {}).get("accuracy")), ""])
    for name, run in data["emulations"].items():
        agr = run.get("agreement") or {}
        acc = run.get("accuracy") or {}
        acc_rows.append([f"device {name}" + (" (stand-in)" if run.get("stand_in") else ""),
                         _pct(acc.get("device")),
                         f"{agr.get('matching', '?')}/{agr.get('total', '?')} bit-exact; host int8 on the same "
                         f"samples: {_pct(acc.get('host_int8'))}"])
    if acc_rows:
        tables.append(("Accuracy and agreement", ["where", "accuracy (held-out samples)",
                                                  "agreement with host int8"], acc_rows))

    fit_rows = []
    for key, check in data["checks"].items():
        if not isinstance(check, dict):
            continue
        flash, ram = check.get("flash") or {}, check.get("ram") or {}
        fit_rows.append([check.get("board", key), check.get("runtime", ""), check.get("basis", ""),
                         f"{_num(flash.get('used_bytes'))} / {_num(flash.get('available_bytes'))}",
                         f"{_num(ram.get('used_bytes'))} / {_num(ram.get('available_bytes'))}",
                         "fits" if check.get("fits") else "DOES NOT FIT"])
    if fit_rows:
        tables.append(("Flash and RAM fit", ["board", "runtime", "basis", "flash used / available",
                                             "RAM used / available", "verdict"], fit_rows))

    size_rows = []
    for name, size in data["sizes"].items():
        split = (size or {}).get("split") or {}
        size_rows.append([name, _num(split.get("model")), _num(split.get("runtime")),
                          _num(split.get("application")), _num(size.get("flash_bytes")),
                          _num(size.get("bss")), _num(size.get("stack_bytes"))])
    if size_rows:
        tables.append(("Linked firmware (bytes, from the ELF)", ["firmware", "model", "runtime", "application",
                                                                "flash total", ".bss", "stack"], size_rows))

    lat_rows = []
    for name, run in data["emulations"].items():
        lat = run.get("latency") or {}
        energy = run.get("energy_estimate") or {}
        lat_rows.append([name, str(run.get("machine", "")), _unit_meaning(run),
                         _num(lat.get("median")),
                         "–" if lat.get("estimated_ms_at_clock") is None else f"{lat['estimated_ms_at_clock']:.3f}",
                         _num(run.get("arena_bytes")),
                         "–" if not energy else f"{energy['uj_per_inference']:.2f}"])
    if lat_rows:
        tables.append(("Latency and energy (estimates)", ["run", "machine", "unit (what it counts)",
                                                          "median per inference",
                                                          "ms at board clock", "arena bytes", "µJ/inference"],
                       lat_rows))

    if analysis.get("operators"):
        measured: dict[int, float] = {}
        for run in data["emulations"].values():
            for entry in run.get("layers") or []:
                measured.setdefault(entry["op_index"], entry["ticks"])
            if measured:
                break
        rows = [[str(o["index"]), o["opcode"], "x".join(str(d) for d in o["outputs"][0].get("shape", [])),
                 _num(o["macs"]), _num(measured.get(o["index"]))] for o in analysis["operators"]]
        tables.append(("Per layer", ["#", "operator", "output", "MACs", "measured ticks"], rows))
    return tables


def _unit_meaning(run: dict) -> str:
    """The latency unit and what the clock behind it really counts, per emulator."""
    unit = (run.get("latency") or {}).get("unit") or run.get("clock_unit", "")
    meaning = {"qemu": "guest instructions, QEMU -icount",
               "renode": "executed instructions: Renode's DWT at MIPS x 10^6 Hz, not core cycles"}
    return f"{unit} ({meaning[run['emulator']]})" if run.get("emulator") in meaning else unit


def _markdown(data: dict, plots: dict[str, Path]) -> str:
    lines = [f"# tinyml report: {data['build_dir']}", ""]
    for title, header, rows in _tables(data):
        lines += [f"## {title}", ""]
        if header[0] or header[1]:
            lines.append("| " + " | ".join(header) + " |")
        else:
            lines.append("| | |")
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines.append("")
    for key, path in plots.items():
        lines += [f"![{key}]({path.name})", ""]
    lines.append("Instruction counts come from QEMU's deterministic -icount clock; they are not cycles. "
                 "Milliseconds and energy are estimates at the board's clock.")
    return "\n".join(lines) + "\n"


def _html(data: dict, plots: dict[str, Path]) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             f"<title>tinyml report: {html.escape(data['build_dir'])}</title><style>",
             "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}",
             "table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:4px 8px;"
             "text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f0f3f7}",
             "img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}.note{color:#666;font-size:90%}",
             "</style></head><body>", f"<h1>tinyml report</h1><p class='note'>{html.escape(data['build_dir'])}</p>"]
    for title, header, rows in _tables(data):
        parts.append(f"<h2>{html.escape(title)}</h2><table>")
        if any(header):
            parts.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
        for r in rows:
            parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>")
        parts.append("</table>")
    if plots:
        parts.append("<h2>Plots</h2>")
    for key, path in plots.items():
        b64 = base64.b64encode(path.read_bytes()).decode()
        parts.append(f"<figure><img alt='{key}' src='data:image/png;base64,{b64}'></figure>")
    parts.append("<p class='note'>Instruction counts come from QEMU's deterministic -icount clock, and Renode's "
                 "'cycles' from a DWT ticking at the core's MIPS, which counts executed instructions; neither is "
                 "the real core's cycles. Milliseconds and energy are estimates at the board's clock.</p>"
                 "</body></html>")
    return "\n".join(parts) + "\n"


def report(build_dir: Path, boards_dirs=None) -> ReportResult:
    data = collect(build_dir, boards_dirs)
    out = Path(build_dir) / "report"
    with atomic_dir(out) as tmp:
        plots = _plots(data, tmp)
        data["plots"] = {k: p.name for k, p in plots.items()}
        (tmp / "report.json").write_text(to_json(data))
        (tmp / "report.md").write_text(_markdown(data, plots))
        (tmp / "report.html").write_text(_html(data, plots))
    return ReportResult(out, data)

"""Stage `report`: everything the build directory knows, as JSON, Markdown
and one self-contained HTML page with plots.

It only reads artifacts (metrics.json files, analyze/analysis.json,
check/<board>-<runtime>.json, firmware/*/build/size.json, emulate/*.json
(per-layer profiles: emulate/*-layers.json), run.json); a stage that has
not run is simply absent from the report. Energy figures come from the
board files (tinyml.boards.energy_basis).
"""

from __future__ import annotations

import base64
import html
import json
import re
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


def _board(board_name: str, boards_dirs):
    try:
        from .boards import load_board
        return load_board(board_name, boards_dirs)
    except Exception:           # a board file since removed: the report still shows the run
        return None


def energy_estimate_uj(ticks: float, clock_hz: float, active_ua_per_mhz: float, supply_v: float) -> float:
    """Energy per inference in microjoules: time x current x voltage.

    time = ticks / clock; current = datasheet active current per MHz x MHz.
    Counting instructions as cycles makes this an estimate twice over.
    """
    seconds = ticks / clock_hz
    current_a = active_ua_per_mhz * 1e-6 * (clock_hz / 1e6)
    return seconds * current_a * supply_v * 1e6


def _linked_fit(build_dir: Path, check: dict) -> dict | None:
    """The linked ELF's flash and RAM for a check made before the build: the device
    firmware of that board and runtime, when it was built from the same model."""
    fw = build_dir / "firmware" / f"{check.get('board')}-{check.get('runtime')}"
    meta, size = _load(fw / "tinyml_firmware.json"), _load(fw / "build" / "size.json")
    if not isinstance(meta, dict) or not isinstance(size, dict):
        return None
    if meta.get("model_sha256") != check.get("model_sha256"):
        return None
    return {"flash_bytes": size.get("flash_bytes"), "ram_bytes": size.get("ram_bytes"),
            "source": str(fw / "build" / "size.json")}


def collect(build_dir: Path, boards_dirs=None) -> dict:
    from .boards import energy_basis
    from .guardrails import accuracy_warnings

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
        "run": _load(build_dir / "run.json"),
        "warnings": accuracy_warnings(build_dir),
        "checks": {}, "sizes": {}, "emulations": {}, "profiles": {},
    }
    for path in sorted((build_dir / "check").glob("*.json")):
        check = _load(path)
        if isinstance(check, dict) and check.get("basis") != "measured":
            linked = _linked_fit(build_dir, check)
            if linked is not None:
                check["linked"] = linked
        data["checks"][path.stem] = check
    for path in sorted((build_dir / "firmware").glob("*/build/size.json")):
        data["sizes"][path.parent.parent.name] = _load(path)
    for path in sorted((build_dir / "emulate").glob("*.json")):
        run = _load(path)
        if not isinstance(run, dict) or "samples" not in run:
            continue
        if run.get("per_layer") or path.stem.endswith("-layers"):
            data["profiles"][path.stem] = run       # the per-layer firmware: its totals carry hook overhead
            continue
        ticks = [s["ticks"] for s in run["samples"] if s.get("ticks") is not None]
        board = _board(run.get("board", ""), boards_dirs)
        basis = energy_basis(board, boards_dirs) if board is not None else {}
        if ticks and basis:
            median = statistics.median_low(ticks)
            run["energy_estimate"] = {
                "uj_per_inference": energy_estimate_uj(median, basis["clock_hz"], basis["active_ua_per_mhz"],
                                                       basis["supply_v"]),
                "active_ua_per_mhz": basis["active_ua_per_mhz"], "supply_v": basis["supply_v"],
                "clock_hz": basis["clock_hz"], "kind": basis["kind"], "source": basis["source"],
                "basis": (f"median {median:,} {run.get('clock_unit', 'ticks')} counted as cycles at "
                          f"{basis['clock_hz'] / 1e6:g} MHz, drawing {basis['active_ua_per_mhz']:g} uA/MHz x "
                          f"{basis['clock_hz'] / 1e6:g} MHz at {basis['supply_v']:g} V ({basis['kind']}); "
                          "an estimate"),
            }
        data["emulations"][path.stem] = run
    return data


def _ordered(records: dict, data: dict) -> list[tuple[str, dict]]:
    """Records in the order `tinyml run` ran their boards (run.json), else by name."""
    order = [st["name"].split(" ", 1)[1] for st in (data.get("run") or {}).get("stages") or []
             if st["name"].startswith(("emulate ", "profile "))]
    rank = {b: i for i, b in reversed(list(enumerate(order)))}
    return sorted(records.items(), key=lambda kv: (rank.get(kv[1].get("board"), len(rank)), kv[0]))


def per_layer_counts(profile: dict) -> dict[int, dict]:
    """op_index -> {opcode, ticks}: the median_low over the profiled samples of each operator's count."""
    per_op: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in profile.get("layers") or []:
        per_op.setdefault(entry["op_index"], []).append(int(entry["ticks"]))
        names[entry["op_index"]] = entry.get("opcode", "")
    return {i: {"opcode": names[i], "ticks": statistics.median_low(v)} for i, v in sorted(per_op.items())}


# ---------------------------------------------------------------- plots

def _plots(data: dict, out_dir: Path) -> dict[str, Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "tinyml", "figure.dpi": 100})
    made: dict[str, Path] = {}

    # Accuracy against the size of the .tflite model (one axis: the model file; the
    # firmware's flash is in the tables). Every series says on how many held-out
    # samples it was measured, and each device run is drawn beside the host int8
    # model on exactly the samples the device ran. Labels live in the legend,
    # outside the axes, so none overlaps a point or another label.
    q = data.get("quantize") or {}
    series = []       # (label, size_bytes, accuracy, marker, colour, face)
    total = q.get("test_samples")
    on_all = f"all {total:,} held-out" if total else "all held-out"
    if (q.get("float_tflite") or {}).get("accuracy") is not None and q.get("float_bytes"):
        series.append((f"float TFLite, host ({on_all})", q["float_bytes"], q["float_tflite"]["accuracy"],
                       "s", "#8c8c8c", "full"))
    if (q.get("int8_tflm") or {}).get("accuracy") is not None and q.get("int8_bytes"):
        series.append((f"int8 TFLite, host tflite-micro ({on_all})", q["int8_bytes"], q["int8_tflm"]["accuracy"],
                       "o", "#4c72b0", "full"))
    # Every device runs the same int8 model, so device points share its x and, being
    # bit-exact, usually its y too: each device gets its own marker and each "host on
    # the same samples" ring its own size, so coinciding points stay visible.
    colours = ["#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3"]
    device_markers = ["x", "+", "1", "2", "3", "4"]
    runs = [(n_, r) for n_, r in _ordered(data["emulations"], data) if (r.get("accuracy") or {}).get("device")
            is not None]
    for i, (name, run) in enumerate(runs if q.get("int8_bytes") else []):
        acc = run["accuracy"]
        n = len(run.get("samples") or [])
        colour = colours[i % len(colours)]
        series.append((f"device {name} ({n} samples)", q["int8_bytes"], acc["device"],
                       device_markers[i % len(device_markers)], colour, 70 + 50 * i))
        if acc.get("host_int8") is not None:
            series.append((f"host int8 on the same {n} samples as {name}", q["int8_bytes"], acc["host_int8"], "o",
                           colour, -(130 + 90 * i)))
    if series:
        fig, ax = plt.subplots(figsize=(10.4, 3.8))
        for label, size, acc_v, marker, colour, face in series:
            hollow = isinstance(face, int) and face < 0
            area = abs(face) if isinstance(face, int) else 50
            kw = {"facecolors": "none", "edgecolors": colour} if hollow else {"color": colour}
            ax.scatter(size / 1024, acc_v * 100, s=area, marker=marker, label=label, linewidths=1.5, **kw)
        sizes = [s_[1] / 1024 for s_ in series]
        span = max(sizes) - min(sizes)
        ax.set_xlim(min(sizes) - max(span * 0.15, 1), max(sizes) + max(span * 0.15, 1))
        accs = [s_[2] * 100 for s_ in series]
        ax.set_ylim(max(0, min(accs) - 5), min(100, max(accs) + 3) + 0.5)
        ax.set_xlabel(".tflite model size (KiB)")
        ax.set_ylabel("accuracy (%)")
        ax.set_title("accuracy against model size")
        ax.grid(alpha=0.3)
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False, markerscale=0.8)
        if runs:
            ax.annotate("device points sit on their host ring when the device equals the host int8 model",
                        (0, -0.22), xycoords="axes fraction", fontsize=7, color="#555")
        made["accuracy_vs_size"] = _save(fig, out_dir / "accuracy_vs_size.png")

    # Per layer: measured instructions (the per-layer profile), and instructions per MAC
    analysis = data.get("analysis") or {}
    macs = {o["index"]: o["macs"] for o in analysis.get("operators") or []}
    profiled = _ordered(data.get("profiles", {}), data)
    if profiled:
        name, profile = profiled[0]
        counts = per_layer_counts(profile)
        ops = sorted(counts)
        unit = profile.get("clock_unit", "ticks")
        labels = [f"{i} {counts[i]['opcode']}" for i in ops]
        width = max(7.5, 0.45 * len(ops))
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(width, 5.6), sharex=True)
        top.bar(range(len(ops)), [counts[i]["ticks"] for i in ops], color="#4c72b0")
        top.set_ylabel(unit)
        top.set_title(f"per layer ({name}: {unit} measured per operator)")
        top.grid(axis="y", alpha=0.3)
        per_mac = [counts[i]["ticks"] / macs[i] if macs.get(i) else 0.0 for i in ops]
        bottom.bar(range(len(ops)), per_mac, color="#dd8452")
        bottom.set_ylabel(f"{unit} per MAC")
        bottom.grid(axis="y", alpha=0.3)
        for x, i in enumerate(ops):
            if not macs.get(i):
                bottom.annotate("no MACs", (x, 0), ha="center", va="bottom", fontsize=6, rotation=90, color="#666")
        bottom.set_xticks(range(len(ops)), labels, rotation=70, fontsize=7)
        made["per_layer"] = _save(fig, out_dir / "per_layer.png")
    elif analysis.get("operators"):
        ops = analysis["operators"]
        fig, ax = plt.subplots(figsize=(max(6.4, 0.35 * len(ops)), 3.6))
        ax.bar(range(len(ops)), [o["macs"] for o in ops], color="#4c72b0")
        ax.set_xticks(range(len(ops)), [f"{o['index']} {o['opcode']}" for o in ops], rotation=70, fontsize=7)
        ax.set_ylabel("MACs")
        ax.set_title("MACs per layer (no per-layer measurement: `tinyml emulate --per-layer`)")
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
    """Bytes and counts: integers with thousands separators (a count is never "900,089.0")."""
    if v is None:
        return "–"
    if isinstance(v, float):
        v = round(v)
    return f"{v:,}"


def _seconds(v) -> str:
    return "–" if v is None else (f"{v:.1f} s" if v < 60 else f"{int(v // 60)} min {v % 60:04.1f} s")


def _tables(data: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for every table of the report."""
    tables = []
    model, q, opt, analysis = data.get("model") or {}, data.get("quantize") or {}, data.get("optimize"), data.get("analysis") or {}
    if data.get("warnings"):
        tables.append(("Warnings", ["", ""], [["warning", w] for w in data["warnings"]]))
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
    n_all = q.get("test_samples")
    on_all = f"all {n_all:,} held-out" if n_all else "held-out"
    if model.get("accuracy") is not None:
        acc_rows.append(["Keras float (trained)", _pct(model.get("accuracy")), on_all, ""])
    if opt:
        acc_rows.append(["Keras float (pruned)", _pct(opt["after"].get("accuracy")), on_all, ""])
    if q:
        acc_rows.append(["TFLite float", _pct((q.get("float_tflite") or {}).get("accuracy")), on_all, ""])
        acc_rows.append(["TFLite int8, LiteRT", _pct((q.get("int8_tflite") or {}).get("accuracy")), on_all, ""])
        acc_rows.append(["TFLite int8, tflite-micro", _pct((q.get("int8_tflm") or {}).get("accuracy")), on_all, ""])
    for name, run in _ordered(data["emulations"], data):
        agr = run.get("agreement") or {}
        acc = run.get("accuracy") or {}
        n = len(run.get("samples") or [])
        acc_rows.append([f"device {name}" + (" (stand-in)" if run.get("stand_in") else ""),
                         _pct(acc.get("device")), f"the first {n} held-out",
                         f"{agr.get('matching', '?')}/{agr.get('total', '?')} bit-exact; host int8 on the same "
                         f"samples: {_pct(acc.get('host_int8'))}"])
    if acc_rows:
        tables.append(("Accuracy and agreement", ["where", "accuracy", "samples", "agreement with host int8"],
                       acc_rows))

    fit_rows = []
    for key, check in data["checks"].items():
        if not isinstance(check, dict):
            continue
        flash, ram = check.get("flash") or {}, check.get("ram") or {}
        flash_used, ram_used = flash.get("used_bytes"), ram.get("used_bytes")
        basis = "linked ELF" if check.get("basis") == "measured" else "estimate (before a build)"
        if check.get("linked"):
            # built after this check: the linked figures replace the estimate
            flash_used, ram_used = check["linked"]["flash_bytes"], check["linked"]["ram_bytes"]
            basis = "linked ELF (built after the check)"
        reserve = ram.get("reserve_bytes")
        if reserve is None:        # a record from before reserve_bytes: the reserve was an item
            reserve = next((i["bytes"] for i in ram.get("items") or [] if i["name"].startswith("reserve")), 0)
            ram_used = (ram_used or 0) - reserve if check.get("linked") is None else ram_used
        ram_available = ram.get("available_bytes")
        headroom = (ram_available - ram_used - reserve) if None not in (ram_available, ram_used) else None
        flash_available = flash.get("available_bytes")
        flash_headroom = (flash_available - flash_used) if None not in (flash_available, flash_used) else None
        fits = (flash_headroom is not None and flash_headroom >= 0 and headroom is not None and headroom >= 0)
        fit_rows.append([check.get("board", key), check.get("runtime", ""), basis,
                         f"{_num(flash_used)} / {_num(flash_available)}",
                         _num(ram_used), _num(reserve), _num(ram_available), _num(headroom),
                         "fits" if fits else "DOES NOT FIT"])
    if fit_rows:
        tables.append(("Flash and RAM fit (bytes)", ["board", "runtime", "basis", "flash used / available",
                                                     "RAM used", "RAM reserve (kept free)", "RAM available",
                                                     "RAM headroom", "verdict"], fit_rows))

    size_rows = []
    for name, size in data["sizes"].items():
        split = (size or {}).get("split") or {}
        size_rows.append([name + (" (per-layer profile)" if name.endswith("-layers") else ""), _num(split.get("model")), _num(split.get("runtime")),
                          _num(split.get("application")), _num(size.get("flash_bytes")),
                          _num(size.get("ram_bytes")), _num(size.get("stack_bytes"))])
    if size_rows:
        tables.append(("Linked firmware (bytes, from the ELF)", ["firmware", "model", "runtime", "application",
                                                                "flash total", "RAM total (data + bss + stack)",
                                                                "of which stack"], size_rows))

    lat_rows = []
    for name, run in _ordered(data["emulations"], data):
        lat = run.get("latency") or {}
        energy = run.get("energy_estimate") or {}
        lat_rows.append([name, str(run.get("machine", "")), _unit_meaning(run),
                         _num(lat.get("median")),
                         "–" if lat.get("estimated_ms_at_clock") is None else f"{lat['estimated_ms_at_clock']:.3f}",
                         _num(run.get("arena_bytes")),
                         "–" if not energy else f"{energy['uj_per_inference']:.2f}",
                         "–" if not energy else (f"{energy['active_ua_per_mhz']:g} uA/MHz at "
                                                 f"{energy['supply_v']:g} V, {energy['kind']}")])
    if lat_rows:
        tables.append(("Latency and energy (estimates)", ["run", "machine", "unit (what it counts)",
                                                          "median per inference",
                                                          "ms at board clock", "arena bytes", "µJ/inference",
                                                          "current behind the energy"],
                       lat_rows))
        sources = sorted({(run.get("energy_estimate") or {}).get("source") for run in data["emulations"].values()}
                         - {None})
        if sources:
            tables.append(("Where the energy figures come from", ["", ""], [["source", s_] for s_ in sources]))

    if analysis.get("operators"):
        profiled = _ordered(data.get("profiles", {}), data)
        counts = [(name.removesuffix("-layers"), prof.get("clock_unit", "ticks"), per_layer_counts(prof))
                  for name, prof in profiled]
        header = ["#", "operator", "output", "MACs"]
        for name, unit, _ in counts:
            header += [f"{name} {unit}", "per MAC"]
        rows = []
        for o in analysis["operators"]:
            row = [str(o["index"]), o["opcode"], "x".join(str(d) for d in o["outputs"][0].get("shape", [])),
                   _num(o["macs"])]
            for _, _, c in counts:
                measured = (c.get(o["index"]) or {}).get("ticks")
                row += [_num(measured), f"{measured / o['macs']:.2f}" if measured is not None and o["macs"] else "–"]
            rows.append(row)
        title = ("Per layer (measured per operator, in a profiling firmware of its own)" if counts
                 else "Per layer (not measured: `tinyml emulate --per-layer`)")
        tables.append((title, header, rows))

    stages = (data.get("run") or {}).get("stages") or []
    if stages:
        tables.append(("Stage times (the last `tinyml run`)", ["stage", "wall time", ""],
                       [[st["name"], _seconds(st.get("seconds")), "skipped: inputs unchanged" if st["skipped"] else
                         st.get("detail", "")] for st in stages]))
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


_NUMERIC = re.compile(r"^[-+]?[\d,.]+( ?(%|s|min [\d.]+ s)| / [\d,]+)?$|^–$")


def _html(data: dict, plots: dict[str, Path]) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             f"<title>tinyml report: {html.escape(data['build_dir'])}</title><style>",
             "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}",
             "table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:4px 8px;"
             "text-align:left;vertical-align:top}td.n{text-align:right;white-space:nowrap}th{background:#f0f3f7}",
             "img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}.note{color:#666;font-size:90%}",
             "</style></head><body>", f"<h1>tinyml report</h1><p class='note'>{html.escape(data['build_dir'])}</p>"]
    for title, header, rows in _tables(data):
        parts.append(f"<h2>{html.escape(title)}</h2><table>")
        if any(header):
            parts.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
        for r in rows:
            parts.append("<tr>" + "".join(f"<td class='n'>{html.escape(c)}</td>" if _NUMERIC.match(c)
                                          else f"<td>{html.escape(c)}</td>" for c in r) + "</tr>")
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

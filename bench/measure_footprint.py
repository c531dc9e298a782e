#!/usr/bin/env python3
"""Measure the per-core runtime footprint tables the fit check uses (`tinyml check`).

Writes firmware_templates/aot/footprint.yaml.

aot, for every core of boards/cores.yaml, from real arm-none-eabi-gcc builds (-Os -std=c99
-ffunction-sections -fdata-sections, linked with --gc-sections and newlib-nano, the flags of the
firmware stage's Makefile):
  - application: the firmware tinyml itself generates (`tinyml firmware` + `tinyml build`, device
    variant) for every board of the registry with that core, around a tiny int8 CNN with one baked
    sample. The build's size split names the application part (startup, vector table, clock init,
    console driver, harness, libc); minus the baked sample (flash) and the model's input/output
    buffers (RAM), the largest over the core's boards is `application_code_bytes` /
    `application_ram_bytes`.
  - the probe application: bench/footprint/app.c (vector table, reset handler, semihosting console,
    SysTick ticks, the protocol lines) + io.c + a do-nothing tinyml_invoke, linked alone: the
    baseline of the kernel measurements below.
  - each kernel of firmware_templates/aot/kernels: the same link plus the kernel library with
    `-Wl,-u,<kernel>`; the growth is `kernel_code_bytes[<kernel>]`: the kernel and everything it
    pulls in (static helpers, libgcc/libc routines). A model's runtime code is estimated as the
    sum over its kernels, so helpers shared by two kernels are counted twice (on the safe side).
  - the reference models (../shared/models): tinyml's AOT generator renders model.c, linked with
    app.c, io.c and the library. The generated code besides the const weights, divided by the
    number of operators, gives `per_operator_bytes` (the largest); the linked runtime code of each
    model is printed next to the per-kernel sum as a cross-check (the sum must not be smaller).
    With --run, each image of a core QEMU's mps2 machines run at this memory map (M3, M4, M7)
    runs under QEMU and its output must equal the tflite-micro interpreter's, byte for byte.

tflm: bench/measure_tflm_footprint.py writes firmware_templates/tflm/footprint.yaml from linked
TFLM firmwares (it reads this script's aot table for the application figures and the scale of
cores it cannot link).

Usage:
    .venv/bin/python bench/measure_footprint.py [--run] [--models DIR] [--cores cortex-m4 ...]
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinyml import proc  # noqa: E402
from tinyml.artifacts import atomic_write_text  # noqa: E402
from tinyml.boards import load_cores  # noqa: E402
from tinyml.check import elf_sizes, kernel_sources_sha256  # noqa: E402
from tinyml.resources import data_dir  # noqa: E402

PROBE = ROOT / "bench" / "footprint"
CFLAGS = ["-Os", "-std=c99", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra", "-Werror"]
LDFLAGS = ["-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", "-Wl,--no-warn-rwx-segments"]
LDLIBS = ["-Wl,--start-group", "-lc", "-lgcc", "-Wl,--end-group"]
REFERENCE_MODELS = ("ad01_int8", "kws_ref_model", "vww_96_int8", "pretrainedResnet_quant")
# The emulator board (boards/) each core's probe images are linked for and, with --run, run on.
# microbit (the only Armv6-M machine) has 16 KB of RAM, which none of the reference models fits:
# Cortex-M0/M0+ images are linked for the mps2 map and only measured (the M3 runs prove the same
# portable C kernel path).
TARGETS = {"cortex-m0": "mps2-an385", "cortex-m0plus": "mps2-an385", "cortex-m3": "mps2-an385",
           "cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500", "cortex-m33": "mps2-an505",
           "cortex-m55": "mps3-an547"}
RUNNABLE = {"cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"}

def gcc(args: list, log: Path) -> None:
    proc.run(["arm-none-eabi-gcc", *args], timeout_s=300, log_path=log)


class CoreProbe:
    def __init__(self, core: str, flags: list[str], work: Path):
        from tinyml.boards import load_board
        self.core, self.flags, self.work = core, flags, work
        self.board = load_board(TARGETS[core])
        mem = self.board.memory
        self.memory_map = [f"-Wl,--defsym=PROBE_FLASH_ORIGIN={mem.flash.origin:#x}",
                           f"-Wl,--defsym=PROBE_RAM_ORIGIN={mem.ram.origin:#x}",
                           f"-Wl,--defsym=PROBE_RAM_SIZE={mem.ram.size:#x}"]
        self.stub_inc = work / "stub"
        self.stub_inc.mkdir(parents=True)
        shutil.copyfile(PROBE / "stub_model.h", self.stub_inc / "model.h")
        self.kernel_dir = data_dir("firmware_templates") / "aot" / "kernels"
        self.objs: dict[str, Path] = {}

    def obj(self, name: str, src: Path, includes: list[Path]) -> Path:
        out = self.work / f"{name}.o"
        gcc([*self.flags, *CFLAGS, *[f"-I{i}" for i in includes], "-c", src, "-o", out],
            self.work / f"{name}.cc.log")
        return out

    def link(self, name: str, objs: list[Path], extra: list[str] = ()) -> Path:
        out = self.work / f"{name}.elf"
        gcc([*self.flags, *LDFLAGS, *self.memory_map, "-T", PROBE / "probe.ld", *extra, *objs, *LDLIBS,
             "-o", out],
            self.work / f"{name}.ld.log")
        return out

    def kernel_names(self, kernels_o: Path) -> list[str]:
        nm = proc.run(["arm-none-eabi-nm", "--defined-only", kernels_o], timeout_s=60)
        return sorted(m.group(1) for m in re.finditer(r"^[0-9a-f]+ T (tinyml_\w+)$", nm.stdout, re.M))


def measure_aot_core(core: str, flags: list[str], work: Path, models: list[Path], run: bool) -> dict:
    from tinyml.runtimes.aot import generate

    p = CoreProbe(core, flags, work)
    kernels_o = p.obj("tinyml_kernels", p.kernel_dir / "tinyml_kernels.c", [p.kernel_dir])
    app_o = p.obj("app", PROBE / "app.c", [p.stub_inc])
    io_o = p.obj("io", PROBE / "io.c", [p.stub_inc])
    stub_o = p.obj("kernel_stub", PROBE / "kernel_stub.c", [p.stub_inc])
    base = elf_sizes(p.link("baseline", [app_o, io_o, stub_o, kernels_o]))

    kernel_bytes, kernel_ram = {}, 0
    for k in p.kernel_names(kernels_o):
        s = elf_sizes(p.link(f"k_{k}", [app_o, io_o, stub_o, kernels_o], [f"-Wl,-u,{k}"]))
        kernel_bytes[k] = s.flash_bytes - base.flash_bytes
        kernel_ram = max(kernel_ram, s.ram_bytes - base.ram_bytes)
    library = elf_sizes(p.link("library", [app_o, io_o, stub_o, kernels_o],
                               [f"-Wl,-u,{k}" for k in kernel_bytes]))

    per_op, per_model = 0, {}
    for mpath in models:
        mdir = work / mpath.stem
        project = generate(mpath, mdir, source_name=mpath.name)
        inc = [mdir, mdir / "kernels"]
        model_o = p.obj(f"{mpath.stem}_model", mdir / "model.c", inc)
        m_app_o = p.obj(f"{mpath.stem}_app", PROBE / "app.c", inc)
        m_io_o = p.obj(f"{mpath.stem}_io", PROBE / "io.c", inc)
        elf = p.link(mpath.stem, [m_app_o, m_io_o, model_o, kernels_o])
        full = elf_sizes(elf)
        mo = elf_sizes(model_o)
        model_code = mo.text + mo.rodata + mo.data - project.weights_bytes
        ops = len(project.operators)
        per_op = max(per_op, math.ceil(model_code / ops))
        app_growth = elf_sizes(m_app_o).text - elf_sizes(app_o).text
        runtime_linked = full.flash_bytes - base.flash_bytes - (mo.text + mo.rodata + mo.data) - app_growth
        used = sorted(set(project_kernels(mdir / "model.c", kernel_bytes)))
        per_model[mpath.stem] = {
            "weights_bytes": project.weights_bytes, "operators": ops, "generated_code_bytes": model_code,
            "runtime_linked_bytes": runtime_linked, "kernels_sum_bytes": sum(kernel_bytes[k] for k in used),
            "flash_bytes": full.flash_bytes, "ram_bytes": full.ram_bytes, "arena_bytes": project.arena_bytes,
        }
        fits = full.flash_bytes <= p.board.memory.flash.size and full.ram_bytes <= p.board.memory.ram.size
        if run and core in RUNNABLE and fits:
            per_model[mpath.stem]["qemu"] = run_and_compare(elf, p.board, mpath, project, work)
    return {
        "flags": flags, "application_code_bytes": base.flash_bytes, "application_ram_bytes": base.ram_bytes,
        "runtime_ram_bytes": kernel_ram, "library_code_bytes": library.flash_bytes - base.flash_bytes,
        "kernel_code_bytes": kernel_bytes, "per_operator_bytes": per_op, "models": per_model,
    }


def project_kernels(model_c: Path, known: dict) -> list[str]:
    text = model_c.read_text()
    return [k for k in known if re.search(rf"\b{k}\(", text)]


def run_and_compare(elf: Path, board, model: Path, project, work: Path) -> str:
    import numpy as np

    from tinyml.interpreters import run_tflm
    machine = board.emulators.qemu.machine
    res = proc.run(["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none", "-serial", "null",
                    "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", elf],
                   timeout_s=300, log_path=work / f"{model.stem}-{machine}.log", check=False)
    m = re.search(r"TINYML SAMPLE 0 ticks=(\d+) out=([0-9a-f]*)", res.stderr + res.stdout)
    if m is None:
        raise SystemExit(f"{model.stem} on {machine}: no result line (log {work / f'{model.stem}-{machine}.log'})")
    n = project.input.size_bytes
    data = ((np.arange(n, dtype=np.uint32) * 37 + 11) & 0xFF).astype(np.uint8).view(np.int8)
    ref = run_tflm(model, data.reshape((1, *project.input.shape)).astype(np.int8))[0].astype(np.int8)
    got = bytes.fromhex(m.group(2))
    if got != ref.tobytes():
        raise SystemExit(f"{model.stem} on {machine}: output differs from tflite-micro")
    # -icount shift=0 runs one instruction per ns; SysTick counts the machine's processor clock.
    instructions = int(m.group(1)) * 1_000_000_000 // board.clock_hz
    return f"{machine}: bit-exact with tflite-micro, {instructions:,} instructions"


def make_tiny_model(path: Path) -> Path:
    """8x8x1 -> CONV_2D(4, 3x3) -> MAX_POOL_2D -> DEPTHWISE_CONV_2D -> FULLY_CONNECTED(10), int8:
    small enough for every board (the microbit's 16 KB of RAM included)."""
    import numpy as np

    from tinyml.tfcompat import tf
    t = tf()
    t.keras.utils.set_random_seed(0)
    keras = t.keras
    model = keras.Sequential([keras.layers.Input((8, 8, 1)),
                              keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                              keras.layers.MaxPooling2D(2),
                              keras.layers.DepthwiseConv2D(3, padding="valid", activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    rep = np.random.default_rng(0).normal(size=(32, 8, 8, 1)).astype(np.float32)
    conv = t.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [t.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([s[None]] for s in rep)
    conv.target_spec.supported_ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = t.int8
    conv.inference_output_type = t.int8
    path.write_bytes(conv.convert())
    return path


def measure_application(core: str, model: Path, work: Path) -> dict:
    """Application bytes of tinyml's own device firmware on every board of this core."""
    from tinyml.boards import list_boards
    from tinyml.build import build_project
    from tinyml.errors import BoardError
    from tinyml.firmware import firmware
    from tinyml.tflite_model import load_model

    m = load_model(model)
    io_bytes = sum(t.nbytes for t in (*m.input_tensors, *m.output_tensors))
    per_board = {}
    for board in (b for b in list_boards() if b.core == core):
        try:
            project = firmware(work / "fw", board.name, runtime="aot", model=model, samples=1, seed=0,
                               out_dir=work / "fw" / board.name)
        except BoardError as exc:  # e.g. no console driver for this family yet
            print(f"    {board.name}: not measured ({exc.message})")
            continue
        size = build_project(project.dir).size
        per_board[board.name] = (size["split"]["application"] - size.get("samples_bytes", 0),
                                 size["split_ram"]["application"] - io_bytes)
    return per_board


def core_flags_for(core: str, facts) -> list[str]:
    fpus = [f for f in facts.fpu_flags if f != "none"] or ["none"]
    return [*facts.flags, *facts.fpu_flags[fpus[0]]]


def yaml_lines_aot(results: dict, toolchain: str, models: list[str]) -> str:
    out = [
        "# Per-core footprint of the aot runtime, read by `tinyml check` (tinyml/check.py).",
        "# Generated by bench/measure_footprint.py: do not edit by hand, re-run it after changing the",
        "# kernel library, the generator or the toolchain.",
        "#",
        f"# Measured with {toolchain}, flags -Os -std=c99 -ffunction-sections -fdata-sections, linked with",
        "# --gc-sections --specs=nano.specs -nostartfiles (the firmware stage's Makefile flags), each core",
        "# with its flags below. Sizes are linked bytes (text + rodata + data for flash, data + bss for RAM).",
        "#   application_*: bench/footprint/app.c + io.c + a do-nothing tinyml_invoke, linked alone",
        "#     (startup, vector table, semihosting console with a 96-byte line buffer, SysTick ticks,",
        "#     the harness protocol lines).",
        "#   kernel_code_bytes: growth of that link with `-Wl,-u,<kernel>` and the kernel library: the",
        "#     kernel plus everything it calls (helpers shared by two kernels count in both).",
        "#   library_code_bytes: all kernels at once (used for a kernel missing from this table).",
        "#   per_operator_bytes: generated model.c bytes besides the const weights (tinyml_invoke's calls,",
        "#     the const parameter structs, shape arrays), per operator, the largest over the reference",
        f"#     models ({', '.join(models)}).",
        "#   runtime_ram_bytes: static data of the kernel library (the arena is counted apart).",
        "#   application_*: tinyml's own device firmware (tinyml firmware + build) for each board of the",
        "#     core around a tiny CNN, application part of the size split minus the baked sample (flash)",
        "#     and the model's input/output buffers (RAM); the largest over the boards (listed per core).",
        "#   kernel_sources_sha256: the kernel library measured (tinyml check notes a mismatch).",
        "runtime: aot",
        f"measured_with: \"{toolchain}; bench/measure_footprint.py\"",
        f"kernel_sources_sha256: {kernel_sources_sha256()}",
        "cores:",
    ]
    for core, r in results.items():
        out.append(f"  {core}:")
        out.append("    basis: measured")
        out.append(f"    flags: [{', '.join(r['flags'])}]")
        for key in ("application_code_bytes", "application_ram_bytes", "runtime_ram_bytes", "library_code_bytes",
                    "per_operator_bytes"):
            out.append(f"    {key}: {r[key]}")
        if "application_from" in r:
            out.append(f"    #   application: no board of {core} builds with the firmware stage yet; "
                       f"figures of {r['application_from']} (same architecture)")
        for board, (code, ram) in sorted(r.get("applications", {}).items()):
            out.append(f"    #   application on {board}: {code} bytes flash, {ram} bytes RAM")
        out.append(f"    #   probe application (bench/footprint/app.c): {r['probe_application_code_bytes']} bytes flash, "
                   f"{r['probe_application_ram_bytes']} bytes RAM")
        out.append("    kernel_code_bytes:")
        for k, v in sorted(r["kernel_code_bytes"].items()):
            out.append(f"      {k}: {v}")
        out.append("    # cross-check per reference model: runtime code as linked vs. the per-kernel sum used above")
        for name, m in r["models"].items():
            extra = f", {m['qemu']}" if "qemu" in m else ""
            out.append(f"    #   {name}: linked {m['runtime_linked_bytes']}, sum {m['kernels_sum_bytes']}, "
                       f"firmware flash {m['flash_bytes']}, RAM {m['ram_bytes']} (arena {m['arena_bytes']}){extra}")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=ROOT.parent / "shared" / "models",
                    help="folder with the reference .tflite models (default ../shared/models)")
    ap.add_argument("--cores", nargs="*", help="only these cores (default: every core of boards/cores.yaml)")
    ap.add_argument("--run", action="store_true", help="run the M3/M4/M7 images on QEMU and compare outputs")
    ap.add_argument("--keep", type=Path, help="keep the build folder here (default: a temporary one)")
    ap.add_argument("--dry-run", action="store_true", help="print the tables instead of writing them")
    args = ap.parse_args(argv)

    proc.require_tool("arm-none-eabi-gcc", "install gcc-arm-none-eabi and libnewlib-arm-none-eabi")
    toolchain = proc.run(["arm-none-eabi-gcc", "--version"], timeout_s=30).stdout.splitlines()[0]
    toolchain = re.sub(r"\s*\(.*?\)\s*", " ", toolchain).strip()
    models = [args.models / f"{m}.tflite" for m in REFERENCE_MODELS if (args.models / f"{m}.tflite").is_file()]
    if not models:
        raise SystemExit(f"no reference models in {args.models}")
    cores = load_cores()
    names = args.cores or list(cores)
    if "cortex-m4" not in names:
        names = ["cortex-m4", *names]  # the tflm scale factors are relative to cortex-m4
    work_root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="tinyml-footprint-"))
    work_root.mkdir(parents=True, exist_ok=True)
    results = {}
    try:
        tiny = make_tiny_model(work_root / "tiny_cnn.tflite")
        for core in names:
            work = work_root / core
            if work.exists():
                shutil.rmtree(work)
            work.mkdir(parents=True)
            results[core] = measure_aot_core(core, core_flags_for(core, cores[core]), work, models, args.run)
            r = results[core]
            r["probe_application_code_bytes"] = r["application_code_bytes"]
            r["probe_application_ram_bytes"] = r["application_ram_bytes"]
            apps = measure_application(core, tiny, work)
            same_arch = [c for c in results if c != core and cores[c].arch == cores[core].arch
                         and results[c].get("applications")]
            if apps:
                r["applications"] = apps
                r["application_code_bytes"] = max(code for code, _ in apps.values())
                r["application_ram_bytes"] = max(ram for _, ram in apps.values())
            elif same_arch:
                # No board of this core builds yet: a core of the same architecture runs the same code.
                src = results[same_arch[0]]
                r["application_from"] = same_arch[0]
                r["application_code_bytes"] = src["application_code_bytes"]
                r["application_ram_bytes"] = src["application_ram_bytes"]
            print(f"{core:14} app {r['application_code_bytes']:6} B flash {r['application_ram_bytes']:5} B RAM, "
                  f"library {r['library_code_bytes']:6} B, {r['per_operator_bytes']} B/op")
            for name, m in r["models"].items():
                print(f"    {name:24} runtime linked {m['runtime_linked_bytes']:6}, kernel sum "
                      f"{m['kernels_sum_bytes']:6}  {m.get('qemu', '')}")
                if m["kernels_sum_bytes"] < m["runtime_linked_bytes"]:
                    raise SystemExit(f"{core} {name}: the per-kernel sum is below the linked runtime code")
    finally:
        if not args.keep:
            shutil.rmtree(work_root, ignore_errors=True)
    aot_text = yaml_lines_aot(results, toolchain, [m.stem for m in models])
    if args.dry_run:
        print(aot_text)
        return 0
    templates = data_dir("firmware_templates")
    atomic_write_text(templates / "aot" / "footprint.yaml", aot_text)
    print(f"wrote {templates / 'aot' / 'footprint.yaml'}; the tflm table comes from linked TFLM "
          "firmwares: run bench/measure_tflm_footprint.py (it reads the aot table's application figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Stage `check`: does an int8 model fit a board's flash and RAM?

    flash = model weights + runtime code + application (+ boot stage)
    RAM   = tensor arena + input/output buffers (aot) + runtime state + application data
            + stack + heap + reserve margin (board ram_reserve_percent, default 10 %)

Before a build every figure is an *estimate*:

- aot:  weights = the const arrays the AOT generator emits (computed with the
  generator's own lowering: weights, biases with the zero point folded in,
  per-channel multipliers and shifts, lookup tables), plus generated operator
  code per operator; runtime code = the closure of the kernel-library functions
  the model calls; arena = the generator's static plan; input/output buffers
  are the caller's. Per-core code figures come from
  firmware_templates/aot/footprint.yaml, measured by bench/measure_footprint.py.
- tflm: model = the whole .tflite as a C array; runtime code = the TFLM +
  CMSIS-NN .text of the measured build whose operator set covers the model
  (firmware_templates/tflm/footprint.yaml, from ../shared/BENCHMARKS.md);
  arena = what the Python tflite-micro interpreter allocates on this 64-bit
  host, which over-estimates the 32-bit MCU figure (pointer-sized structs).

After a build (an ELF given with elf_path, or the device firmware of this
board and runtime in the build directory, built from the same model) the
figures are *measured*: flash = text + rodata + data and RAM = data + bss
(with the linker's stack and heap reservations) of the linked ELF; the arena
the firmware reported at run time (emulate/<board>-qemu.json) is shown beside.

A model that does not fit gets the shortfall and what would make it fit, with
numbers (width multiplier 0.5, the largest activation pair, the other runtime,
the boards of the registry it fits).
"""

from __future__ import annotations

import functools
import math
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError, ModelError, TinyMLError

RUNTIMES = ("aot", "tflm")
FOOTPRINT_FILE = "footprint.yaml"

# Operators that only move or re-label bytes: a width multiplier leaves a
# tensor's channel count fixed across them (used by the width-0.5 estimate).
_CHANNEL_PRESERVING = {"RESHAPE", "SOFTMAX", "QUANTIZE", "DEQUANTIZE", "LOGISTIC", "TANH", "RELU",
                       "RELU6", "PAD", "MAX_POOL_2D", "AVERAGE_POOL_2D", "MEAN", "SQUEEZE",
                       "EXPAND_DIMS", "HARD_SWISH", "LEAKY_RELU"}
_WEIGHTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"}


# ----------------------------------------------------------------------------- footprint tables

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TflmBuild(_Strict):
    model: str
    operators: list[str]
    text_bytes: int = Field(gt=0)


class CoreFootprint(_Strict):
    """Per-core figures of one runtime (bytes)."""
    basis: Literal["measured", "scaled estimate"]
    reason: str | None = None
    flags: list[str] = Field(default_factory=list)
    # both runtimes
    application_code_bytes: int = Field(ge=0)
    application_ram_bytes: int = Field(ge=0)
    runtime_ram_bytes: int = Field(ge=0)
    # aot
    library_code_bytes: int | None = Field(default=None, ge=0)
    kernel_code_bytes: dict[str, int] = Field(default_factory=dict)
    per_operator_bytes: int | None = Field(default=None, ge=0)
    # tflm
    scale: float | None = Field(default=None, gt=0)
    builds: list[TflmBuild] = Field(default_factory=list)
    unmeasured_operator_bytes: int | None = Field(default=None, ge=0)
    application_in_runtime: bool = False


class Footprint(_Strict):
    runtime: Literal["aot", "tflm"]
    measured_with: str
    kernel_sources_sha256: str | None = None
    cores: dict[str, CoreFootprint]


def kernel_sources_sha256() -> str:
    """Fingerprint of the shipped aot kernel library (file names and bytes of its .c/.h)."""
    import hashlib
    from .resources import data_dir
    kdir = data_dir("firmware_templates") / "aot" / "kernels"
    h = hashlib.sha256()
    for name in sorted(p.name for p in kdir.iterdir() if p.suffix in (".c", ".h")):
        h.update(name.encode() + b"\0" + (kdir / name).read_bytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=8)
def _load_footprint_cached(path: Path, mtime: float) -> Footprint:
    import yaml
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the footprint table ({exc}).", path=path) from exc
    try:
        return Footprint.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ()))
        raise ConfigError(f"{path}: field {loc}: {err.get('msg')} (the installed footprint table is damaged; "
                          "reinstall tinyml).",
                          path=path) from exc


def load_footprint(runtime: str) -> Footprint:
    """The per-core figures of firmware_templates/<runtime>/footprint.yaml."""
    from .resources import data_dir
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime {runtime!r}; choose aot or tflm.")
    path = data_dir("firmware_templates") / runtime / FOOTPRINT_FILE
    if not path.is_file():
        raise ConfigError(f"{path} is missing (the installed package is incomplete; reinstall tinyml).",
                          path=path)
    return _load_footprint_cached(path, path.stat().st_mtime)


def _core_footprint(fp: Footprint, core: str) -> CoreFootprint:
    if core not in fp.cores:
        raise ConfigError(f"firmware_templates/{fp.runtime}/{FOOTPRINT_FILE} has no figures for {core} "
                          "(a core added in a user cores.yaml?): build the firmware and check it with --elf, "
                          "which uses the linked sizes instead.")
    return fp.cores[core]


# ----------------------------------------------------------------------------- what the model needs

@dataclass
class ActivationPair:
    """The largest set of activation tensors one operator needs alive at once."""
    op_index: int
    opcode: str
    producer_index: int | None       # the operator that wrote the (largest) input, None for the model input
    producer_opcode: str | None
    input_bytes: int
    output_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.input_bytes + self.output_bytes

    def describe(self) -> str:
        src = (f"operator {self.producer_index} ({self.producer_opcode})" if self.producer_index is not None
               else "the model input")
        return (f"operator {self.op_index} ({self.opcode}) reads {self.input_bytes:,} bytes written by {src} "
                f"and writes {self.output_bytes:,} bytes: {self.total_bytes:,} bytes alive together")


@dataclass
class ModelFacts:
    """Everything the fit check needs from a model, computed once."""
    path: Path
    sha256: str
    file_bytes: int
    operator_count: int
    opcodes: list[str]
    constant_bytes: int                 # all constant tensors as stored
    float_constant_bytes: int           # of which float32 (not quantized)
    io_bytes: int                       # model input + output tensors
    output_bytes: int                   # of which output
    largest_pair: ActivationPair | None
    half_width_constant_bytes: int      # constant tensors with a width multiplier of 0.5
    half_width_pair_bytes: int | None
    tflm_arena_bytes: int
    tflm_error: str | None = None       # why the tflm firmware (harness I/O) or tflite-micro cannot run it
    aot_error: str | None = None        # why the aot runtime cannot run it
    aot_weights_bytes: int = 0
    aot_arena_bytes: int = 0
    aot_kernels: list[str] = field(default_factory=list)
    aot_arena_note: str = ""


def _largest_pair(model) -> ActivationPair | None:
    best: ActivationPair | None = None
    for op in model.operators:
        ins = [t for t in op.inputs if t >= 0 and model.tensor(t).data is None]
        in_bytes = sum(model.tensor(t).nbytes for t in ins)
        out_bytes = sum(model.tensor(t).nbytes for t in op.outputs if t >= 0)
        if best is not None and in_bytes + out_bytes <= best.total_bytes:
            continue
        producer = None
        if ins:
            main = max(ins, key=lambda t: model.tensor(t).nbytes)
            producer = model.producer(main)
        best = ActivationPair(op.index, op.opcode, producer.index if producer else None,
                              producer.opcode if producer else None, in_bytes, out_bytes)
    return best


def _fixed_channel_tensors(model) -> set[int]:
    """Tensors whose channel count a width multiplier does not change: the model
    input and output, and tensors joined to them only through operators that
    keep the channel count (reshape, pooling, softmax, ...)."""
    fixed = set(model.inputs) | set(model.outputs)
    changed = True
    while changed:
        changed = False
        for op in model.operators:
            if op.opcode not in _CHANNEL_PRESERVING:
                continue
            ins = [t for t in op.inputs if t >= 0 and model.tensor(t).data is None]
            outs = [t for t in op.outputs if t >= 0]
            if ins and all(t in fixed for t in ins) and not all(t in fixed for t in outs):
                fixed.update(outs)
                changed = True
            if outs and all(t in fixed for t in outs) and not all(t in fixed for t in ins):
                fixed.update(ins)
                changed = True
    return fixed


def _half_width(model) -> tuple[int, int | None]:
    """(constant bytes, largest activation pair bytes) with a width multiplier of 0.5.

    A weight tensor shrinks by 0.5 for each of its channel dimensions that is
    not tied to the model's input or output: about 4x for inner convolutions
    and fully connected layers, 2x for depthwise kernels and for the first and
    last layers. Activation tensors not tied to the input/output halve."""
    fixed = _fixed_channel_tensors(model)
    weight_scale: dict[int, float] = {}
    for op in model.operators:
        if op.opcode not in _WEIGHTED:
            continue
        data_in = op.inputs[0] if op.inputs else -1
        out = op.outputs[0] if op.outputs else -1
        in_scaled = data_in >= 0 and data_in not in fixed
        out_scaled = out >= 0 and out not in fixed
        w = op.inputs[1] if len(op.inputs) > 1 else -1
        b = op.inputs[2] if len(op.inputs) > 2 else -1
        if op.opcode == "DEPTHWISE_CONV_2D":
            wf = 0.5 if out_scaled else 1.0
        else:
            wf = (0.5 if in_scaled else 1.0) * (0.5 if out_scaled else 1.0)
        if w >= 0:
            weight_scale[w] = wf
        if b >= 0:
            weight_scale[b] = 0.5 if out_scaled else 1.0
    const_total = 0.0
    for t in model.tensors:
        if t.data is not None:
            const_total += t.nbytes * weight_scale.get(t.index, 1.0)
    best = None
    for op in model.operators:
        total = 0.0
        for t in [*op.inputs, *op.outputs]:
            if t < 0 or model.tensor(t).data is not None:
                continue
            total += model.tensor(t).nbytes * (1.0 if t in fixed else 0.5)
        best = total if best is None else max(best, total)
    return int(math.ceil(const_total)), (int(math.ceil(best)) if best is not None else None)


def model_facts(model_path: str | Path) -> ModelFacts:
    """Load the model and compute what both runtimes need from it."""
    from .artifacts import sha256_file
    from .interpreters import tflm_arena_bytes
    from .tflite_model import load_model

    model_path = Path(model_path)
    model = load_model(model_path)
    consts = [t for t in model.tensors if t.data is not None]
    half_consts, half_pair = _half_width(model)
    from .firmware import harness_io_problem

    tflm_error = harness_io_problem(model, "tflm")   # what the tflm firmware refuses, check refuses
    try:
        tflm_arena = tflm_arena_bytes(model_path)
    except ModelError as exc:
        tflm_arena, tflm_error = 0, tflm_error or exc.message
    facts = ModelFacts(
        path=model_path, sha256=sha256_file(model_path), file_bytes=model_path.stat().st_size,
        operator_count=len(model.operators), opcodes=list(model.opcodes),
        constant_bytes=sum(t.nbytes for t in consts),
        float_constant_bytes=sum(t.nbytes for t in consts if t.dtype in ("float32", "float16", "float64")),
        io_bytes=sum(model.tensor(t).nbytes for t in (*model.inputs, *model.outputs)),
        output_bytes=sum(model.tensor(t).nbytes for t in model.outputs),
        largest_pair=_largest_pair(model), half_width_constant_bytes=half_consts,
        half_width_pair_bytes=half_pair, tflm_arena_bytes=tflm_arena, tflm_error=tflm_error)
    _aot_facts(model, facts)
    facts.aot_error = facts.aot_error or harness_io_problem(model, "aot")
    return facts


def _aot_facts(model, facts: ModelFacts) -> None:
    try:
        from .runtimes.aot import ops as aot_ops
        from .runtimes.aot import plan_arena
    except ImportError:  # pragma: no cover - the aot runtime ships with tinyml
        # Without the generator: constants as stored, the whole kernel library, TFLM's arena.
        facts.aot_weights_bytes = facts.constant_bytes
        facts.aot_arena_bytes = facts.tflm_arena_bytes
        facts.aot_arena_note = "aot planner missing: TFLM's host arena used instead"
        return
    try:
        lowered = aot_ops.check_model(model)
        plan = plan_arena(model)
    except TinyMLError as exc:
        facts.aot_error = exc.message
        return
    facts.aot_weights_bytes = sum(c.size_bytes for low in lowered for c in low.consts)
    facts.aot_arena_bytes = plan.arena_bytes
    facts.aot_kernels = sorted({call.kernel for low in lowered for call in low.calls})


# ----------------------------------------------------------------------------- results

@dataclass
class Item:
    name: str
    bytes: int
    basis: str          # exact | measured | estimate | board
    source: str = ""


@dataclass
class Budget:
    region: str
    available_bytes: int
    items: list[Item]               # what the firmware uses
    # Kept free on purpose (RAM: the board's ram_reserve_percent): not "used",
    # so it is shown apart, but the headroom is what is left after it.
    reserve: Item | None = None

    @property
    def used_bytes(self) -> int:
        return sum(i.bytes for i in self.items)

    @property
    def reserve_bytes(self) -> int:
        return self.reserve.bytes if self.reserve is not None else 0

    @property
    def headroom_bytes(self) -> int:
        return self.available_bytes - self.used_bytes - self.reserve_bytes

    @property
    def headroom_percent(self) -> float:
        return 100.0 * self.headroom_bytes / self.available_bytes

    @property
    def fits(self) -> bool:
        return self.headroom_bytes >= 0

    def to_dict(self) -> dict:
        return {"available_bytes": self.available_bytes, "used_bytes": self.used_bytes,
                "reserve_bytes": self.reserve_bytes, "reserve": asdict(self.reserve) if self.reserve else None,
                "headroom_bytes": self.headroom_bytes, "headroom_percent": round(self.headroom_percent, 2),
                "fits": self.fits, "items": [asdict(i) for i in self.items]}


@dataclass
class FitResult:
    board: str
    runtime: str
    basis: str                      # estimate | measured
    model: str
    model_sha256: str
    flash: Budget
    ram: Budget
    reserve_percent: float
    notes: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    fits_on: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.flash.fits and self.ram.fits

    def verdict(self) -> str:
        if self.fits:
            return f"{Path(self.model).name} fits {self.board} with the {self.runtime} runtime ({self.basis})."
        over = []
        for b in (self.flash, self.ram):
            if not b.fits:
                over.append(f"{b.region} by {-b.headroom_bytes:,} bytes")
        return (f"{Path(self.model).name} does not fit {self.board} with the {self.runtime} runtime: "
                f"over {' and '.join(over)} ({self.basis}).")

    def to_dict(self) -> dict:
        return {"board": self.board, "runtime": self.runtime, "basis": self.basis, "model": self.model,
                "model_sha256": self.model_sha256, "fits": self.fits, "verdict": self.verdict(),
                "reserve_percent": self.reserve_percent, "flash": self.flash.to_dict(),
                "ram": self.ram.to_dict(), "notes": list(self.notes), "suggestions": list(self.suggestions),
                "fits_on": list(self.fits_on)}


# ----------------------------------------------------------------------------- estimate

def _tflm_code(cf: CoreFootprint, opcodes: list[str]) -> Item:
    ops = set(opcodes)
    covering = [b for b in cf.builds if ops <= set(b.operators)]
    scale = cf.scale or 1.0
    if covering:
        build = min(covering, key=lambda b: b.text_bytes)
        n = int(math.ceil(build.text_bytes * scale))
        how = f"measured build of {build.model} ({', '.join(build.operators)})"
        extra = 0
    else:
        build = max(cf.builds, key=lambda b: b.text_bytes)
        missing = sorted(ops - set(build.operators))
        extra = len(missing) * (cf.unmeasured_operator_bytes or 0)
        n = int(math.ceil((build.text_bytes + extra) * scale))
        how = (f"largest measured build ({build.model}) + {cf.unmeasured_operator_bytes:,} bytes for each "
               f"operator no measured build has ({', '.join(missing)})")
    basis = "measured" if cf.basis == "measured" and not extra else "estimate"
    scaled = f", scaled x{scale:g} from cortex-m4 ({cf.reason})" if cf.basis == "scaled estimate" else ""
    name = "TFLM + CMSIS-NN code" + (" incl. application" if cf.application_in_runtime else "")
    return Item(name, n, basis, f"{how}{scaled}; firmware_templates/tflm/footprint.yaml")


def _aot_code(cf: CoreFootprint, kernels: list[str]) -> Item:
    known = [k for k in kernels if k in cf.kernel_code_bytes]
    unknown = [k for k in kernels if k not in cf.kernel_code_bytes] or (["(no lowering)"] if not kernels else [])
    if unknown:
        # A kernel newer than the table: count the whole library rather than guess.
        return Item("runtime: int8 kernel library", cf.library_code_bytes or 0, "estimate",
                    f"whole library ({', '.join(unknown)} not in the table)")
    n = sum(cf.kernel_code_bytes[k] for k in known)
    return Item(f"runtime: {len(known)} int8 kernel{'s' if len(known) != 1 else ''}", n,
                "measured" if cf.basis == "measured" else "estimate",
                f"{', '.join(known)}: linked size of each (shared helpers counted in each); "
                "firmware_templates/aot/footprint.yaml")


def _ram_common(board, cf: CoreFootprint, reserve_percent: float, runtime: str) -> list[Item]:
    items = [Item("runtime state", cf.runtime_ram_bytes, "measured" if runtime == "aot" else "estimate",
                  f"firmware_templates/{runtime}/footprint.yaml"),
             Item("application data (console buffer, tick counter)", cf.application_ram_bytes, "measured",
                  f"firmware_templates/{runtime}/footprint.yaml"),
             Item("stack", board.stack_bytes, "board", "stack_bytes of the board file")]
    if board.heap_bytes:
        items.append(Item("heap", board.heap_bytes, "board", "heap_bytes of the board file"))
    return items


def _reserve_item(board, reserve_percent: float) -> Item:
    from .boards import reserve_bytes
    return Item(f"reserve margin ({reserve_percent:g}% of RAM)", reserve_bytes(board.memory.ram.size, reserve_percent),
                "board", "ram_reserve_percent of the board file, or --reserve-percent")


def _tflm_arena_item(facts: ModelFacts, board) -> Item:
    """The arena a tflm firmware for this board allocates: the device figure
    when a firmware for this core was built before (runtimes/tflm/arena.py),
    else the host interpreter's figure with the margin the firmware then uses."""
    from .boards import core_flags
    from .runtimes.tflm.arena import recorded_for_core, with_margin

    try:
        rec = recorded_for_core(facts.sha256, core_flags(board))
    except TinyMLError:
        rec = None
    if rec is not None:
        need = int(rec["arena_min_bytes"])
        return Item("tensor arena (TFLM on the device)", with_margin(need), "measured",
                    f"the smallest arena AllocateTensors accepted on {rec.get('measured_on')} ({need:,} B, "
                    "same core flags) + the firmware's margin (tinyml's TFLM arena record)")
    return Item("tensor arena (tflite-micro, host)", facts.tflm_arena_bytes, "estimate",
                "measured by the Python tflite-micro interpreter on this 64-bit host: larger pointer-sized "
                "bookkeeping than a Cortex-M, but no CMSIS-NN scratch buffers; the first tflm firmware "
                "build for this core measures it on the emulated core, and the check then uses that")


DEFAULT_FIRMWARE_SAMPLES = 10   # inputs `tinyml firmware` bakes into its test firmware by default


def estimate(facts: ModelFacts, board, runtime: str, reserve_percent: float | None = None,
             samples: int = 0) -> FitResult:
    """The fit before anything is built (every figure labelled with its basis).

    `samples`: test inputs baked into flash by tinyml's harness firmware (0: a
    deployed application that reads its inputs from a sensor)."""
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime {runtime!r}; choose aot or tflm.")
    pct = board.ram_reserve_percent if reserve_percent is None else reserve_percent
    if not 0 <= pct < 100:
        raise ConfigError(f"--reserve-percent {pct:g} is not between 0 and 100.")
    cf = _core_footprint(load_footprint(runtime), board.core)
    notes: list[str] = []
    if runtime == "aot":
        if facts.aot_error is not None:
            raise ModelError(f"{facts.path.name} cannot run on the aot runtime: {facts.aot_error} "
                             "(try --runtime tflm).", path=facts.path)
        flash_items = [
            Item("model weights (const arrays of the generated code)", facts.aot_weights_bytes, "exact",
                 "the AOT generator's lowering: weights, folded biases, per-channel requantization, tables"),
            Item(f"generated operator code ({facts.operator_count} operators)",
                 facts.operator_count * (cf.per_operator_bytes or 0), "estimate",
                 f"{cf.per_operator_bytes} bytes per operator (largest measured); firmware_templates/aot/footprint.yaml"),
            _aot_code(cf, facts.aot_kernels),
        ]
        arena_note = facts.aot_arena_note or "static plan of the AOT generator (input/output not in it)"
        ram_items = [Item("tensor arena", facts.aot_arena_bytes, "exact" if not facts.aot_arena_note else "estimate",
                          arena_note),
                     Item("model input + output buffers", facts.io_bytes, "exact", "tinyml_invoke's arguments")]
    else:
        if facts.tflm_error is not None:
            raise ModelError(f"{facts.path.name} cannot run on the tflm runtime: {facts.tflm_error} "
                             "(try --runtime aot).", path=facts.path)
        flash_items = [Item("model (.tflite as a C array)", facts.file_bytes, "exact", str(facts.path.name)),
                       _tflm_code(cf, facts.opcodes)]
        ram_items = [_tflm_arena_item(facts, board)]
        notes.append("The TFLM code figure is the .text of the measured firmwares; their .rodata/.data "
                     "(a few KB of tables and log strings) is not in it: check after a build.")
    if not cf.application_in_runtime:
        flash_items.append(Item("application (startup, console, harness)", cf.application_code_bytes,
                                "measured" if cf.basis == "measured" else "estimate",
                                f"firmware_templates/{runtime}/footprint.yaml"))
    if board.boot_stage is not None:
        flash_items.append(Item(f"boot stage ({board.boot_stage.name})", board.boot_stage.bytes, "board",
                                "boot_stage of the board file"))
    input_bytes = facts.io_bytes - facts.output_bytes
    if samples:
        flash_items.append(Item(f"baked test inputs ({samples} x {input_bytes:,} bytes)", samples * input_bytes,
                                "exact", "the samples tinyml's harness firmware carries in flash"))
    ram_items += _ram_common(board, cf, pct, runtime)
    flash_free = board.memory.flash.size - sum(i.bytes for i in flash_items)
    if not samples and 0 <= flash_free < DEFAULT_FIRMWARE_SAMPLES * input_bytes:
        notes.append(f"tinyml's test firmware bakes {DEFAULT_FIRMWARE_SAMPLES} inputs into flash by default "
                     f"({DEFAULT_FIRMWARE_SAMPLES * input_bytes:,} bytes), more than the {flash_free:,} bytes left: "
                     f"render it with at most {flash_free // max(1, input_bytes)} samples (check with --samples).")
    if cf.basis == "scaled estimate":
        notes.append(f"No build was measured for {board.core}: code figures are scaled ({cf.reason}).")
    # A footprint table measured from another kernel library is a developer's
    # mistake, not a user's: tests/unit/test_figures.py fails CI on it.
    return FitResult(board=board.name, runtime=runtime, basis="estimate", model=str(facts.path),
                     model_sha256=facts.sha256,
                     flash=Budget("flash", board.memory.flash.size, flash_items),
                     ram=Budget("ram", board.memory.ram.size, ram_items, _reserve_item(board, pct)),
                     reserve_percent=pct, notes=notes)


# ----------------------------------------------------------------------------- measured (after a build)

@dataclass
class ElfSizes:
    text: int
    rodata: int
    data: int
    bss: int
    stack_heap_reserved: bool
    sections: dict[str, int]

    @property
    def flash_bytes(self) -> int:
        return self.text + self.rodata + self.data

    @property
    def ram_bytes(self) -> int:
        return self.data + self.bss


def elf_sizes(path: str | Path) -> ElfSizes:
    """Section sizes of a 32-bit little-endian ELF, grouped like arm-none-eabi-size:
    text = allocated executable, rodata = allocated read-only data, data =
    allocated writable with contents (stored in flash, copied to RAM), bss =
    allocated without contents (includes NOLOAD stack/heap reservations)."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path} ({exc.strerror}).", path=path) from exc
    if blob[:4] != b"\x7fELF" or len(blob) < 52:
        raise ConfigError(f"{path} is not an ELF file.", path=path)
    if blob[4] != 1 or blob[5] != 1:
        raise ConfigError(f"{path} is not a 32-bit little-endian ELF (not a Cortex-M image).", path=path)
    shoff, = struct.unpack_from("<I", blob, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", blob, 0x2E)
    headers = [struct.unpack_from("<10I", blob, shoff + i * shentsize) for i in range(shnum)]
    strtab_off = headers[shstrndx][4] if shstrndx < shnum else 0

    def name_of(off: int) -> str:
        end = blob.index(b"\0", strtab_off + off)
        return blob[strtab_off + off:end].decode("ascii", "replace")

    text = rodata = data = bss = 0
    sections: dict[str, int] = {}
    reserved = False
    for h in headers:
        sh_name, sh_type, flags, _addr, _off, size = h[:6]
        if not flags & 0x2 or size == 0:        # SHF_ALLOC
            continue
        name = name_of(sh_name)
        sections[name] = size
        if sh_type == 8:                        # SHT_NOBITS
            bss += size
            if "stack" in name or "heap" in name:
                reserved = True
        elif flags & 0x4:                       # SHF_EXECINSTR
            text += size
        elif flags & 0x1:                       # SHF_WRITE
            data += size
        else:
            rodata += size
    return ElfSizes(text, rodata, data, bss, reserved, sections)


def _firmware_dir(build_dir: Path, board: str, runtime: str) -> Path:
    return Path(build_dir) / "firmware" / f"{board}-{runtime}"


def _built_from(fw_dir: Path, sha256: str) -> bool | None:
    """Whether the firmware project was rendered from this model (None: unknown)."""
    from .artifacts import read_json
    manifest = fw_dir / "tinyml_firmware.json"
    if not manifest.is_file():
        return None
    try:
        return read_json(manifest).get("model_sha256") == sha256
    except TinyMLError:
        return None


def _measured_arena(build_dir: Path, board: str, runtime: str, sha256: str) -> tuple[int | None, str]:
    from .artifacts import read_json
    path = Path(build_dir) / "emulate" / f"{board}-qemu.json"
    if not path.is_file():
        return None, ""
    try:
        run = read_json(path)
    except TinyMLError:
        return None, f"{path} is not readable JSON; its arena figure was not used."
    if run.get("model_sha256") not in (None, sha256):
        return None, f"{path} is from another model; its arena figure was not used."
    if run.get("runtime") not in (None, runtime):
        return None, f"{path} ran the {run.get('runtime')} runtime; its arena figure was not used."
    arena = run.get("arena_bytes")
    return (int(arena), f"arena used at run time: {int(arena):,} bytes ({path})") if arena is not None else (None, "")


def measured(facts: ModelFacts, board, runtime: str, *, reserve_percent: float | None = None,
             elf_path: str | Path | None = None,
             build_dir: str | Path | None = None) -> tuple[FitResult | None, list[str]]:
    """The fit from a linked firmware: elf_path, or the device firmware of this
    board and runtime in build_dir when it was built from this model.
    Returns (None, notes) when there is nothing measured to use; the notes say
    why a build that exists was not used."""
    from .artifacts import read_json
    pct = board.ram_reserve_percent if reserve_percent is None else reserve_percent
    notes: list[str] = []
    size = None
    source = ""
    if elf_path is not None:
        sizes = elf_sizes(elf_path)
        source = str(elf_path)
        flash = [Item("text (code)", sizes.text, "measured", source),
                 Item("rodata (weights, constants)", sizes.rodata, "measured", source),
                 Item("data (initial values)", sizes.data, "measured", source)]
        ram = [Item("data", sizes.data, "measured", source),
               Item("bss (arena, buffers" + (", stack, heap" if sizes.stack_heap_reserved else "") + ")",
                    sizes.bss, "measured", source)]
        if not sizes.stack_heap_reserved:
            ram.append(Item("stack (board; not reserved in the ELF)", board.stack_bytes, "board", "stack_bytes"))
            if board.heap_bytes:
                ram.append(Item("heap (board)", board.heap_bytes, "board", "heap_bytes"))
    else:
        if build_dir is None:
            return None, notes
        fw_dir = _firmware_dir(Path(build_dir), board.name, runtime)
        size_path = fw_dir / "build" / "size.json"
        if not size_path.is_file():
            return None, notes
        same = _built_from(fw_dir, facts.sha256)
        if same is not True:
            why = "from another model" if same is False else "without a record of its model"
            notes.append(f"{size_path} was built {why}: the figures below are estimates, not that build.")
            return None, notes
        size = read_json(size_path)
        source = str(size_path)
        flash_total = size.get("flash_bytes", size.get("text", 0) + size.get("rodata", 0) + size.get("data", 0))
        ram_total = size.get("ram_bytes", size.get("data", 0) + size.get("bss", 0)
                             + size.get("stack_bytes", 0) + size.get("heap_bytes", 0))
        split = size.get("split") or {}
        split_ram = size.get("split_ram") or {}
        if split and sum(split.values()) == flash_total:
            flash = [Item(f"{k} (linked)", int(v), "measured", source) for k, v in split.items()]
        else:
            flash = [Item("text + rodata + data (linked)", int(flash_total), "measured", source)]
        stack_heap = int(size.get("stack_bytes", 0)) + int(size.get("heap_bytes", 0))
        if split_ram and sum(split_ram.values()) + stack_heap == ram_total:
            ram = [Item(f"{k} data + bss (linked)", int(v), "measured", source) for k, v in split_ram.items()]
            ram.append(Item("stack + heap (linker reservation)", stack_heap, "measured", source))
        else:
            ram = [Item("data + bss + stack + heap (linked)", int(ram_total), "measured", source)]
    if build_dir is not None:
        arena, note = _measured_arena(Path(build_dir), board.name, runtime, facts.sha256)
        if note:
            notes.append(note)
    return FitResult(board=board.name, runtime=runtime, basis="measured", model=str(facts.path),
                     model_sha256=facts.sha256, flash=Budget("flash", board.memory.flash.size, flash),
                     ram=Budget("ram", board.memory.ram.size, ram, _reserve_item(board, pct)), reserve_percent=pct,
                     notes=notes), []


# ----------------------------------------------------------------------------- advice

def _fmt(n: int) -> str:
    return f"{n:,} bytes"


def suggestions(result: FitResult, facts: ModelFacts, board, other: FitResult | None) -> list[str]:
    """What would make a model that does not fit fit, with numbers."""
    out: list[str] = []
    if result.fits:
        return out
    if not result.flash.fits:
        short = -result.flash.headroom_bytes
        out.append(f"Flash is short by {_fmt(short)} "
                   f"({short / board.memory.flash.size:.1%} of the board's {_fmt(board.memory.flash.size)}).")
        if facts.float_constant_bytes:
            out.append(f"{_fmt(facts.float_constant_bytes)} of the weights are float: full-int8 quantization "
                       f"stores them in about {_fmt(facts.float_constant_bytes // 4)}.")
        else:
            out.append(f"The weights are already int8 ({_fmt(facts.constant_bytes)} of constants): pruning does "
                       "not shrink a dense int8 tensor unless the runtime stores it compressed (neither aot nor "
                       "tflm does); clustering to 16 values would need 4-bit packing to save space.")
        baked = next((i for i in result.flash.items if i.name.startswith("baked test inputs")), None)
        if baked is not None:
            per_sample = facts.io_bytes - facts.output_bytes
            fewer = math.ceil(short / max(1, per_sample))
            if fewer * per_sample <= baked.bytes:
                out.append(f"Baking {fewer} fewer test input{'s' if fewer != 1 else ''} "
                           f"({per_sample:,} bytes each) would make it fit.")
        saved = facts.constant_bytes - facts.half_width_constant_bytes
        if saved > 0:
            verdict = "would fit" if saved >= short else f"still {_fmt(short - saved)} short"
            out.append(f"A width multiplier of 0.5 cuts the constants from {_fmt(facts.constant_bytes)} to about "
                       f"{_fmt(facts.half_width_constant_bytes)} (~{facts.constant_bytes / max(1, facts.half_width_constant_bytes):.1f}x "
                       f"less; inner convolutions 4x, depthwise and first/last layers 2x): flash {verdict}.")
    if not result.ram.fits:
        short = -result.ram.headroom_bytes
        out.append(f"RAM is short by {_fmt(short)} "
                   f"({short / board.memory.ram.size:.1%} of the board's {_fmt(board.memory.ram.size)}, "
                   f"with a {result.reserve_percent:g}% reserve).")
        if facts.largest_pair is not None:
            out.append(f"The largest activation pair is {facts.largest_pair.describe()}; no arena plan can go "
                       "below that without tiling the operator.")
        if facts.half_width_pair_bytes is not None and facts.largest_pair is not None:
            cut = facts.largest_pair.total_bytes - facts.half_width_pair_bytes
            out.append(f"A width multiplier of 0.5 halves the activations: the largest pair would be about "
                       f"{_fmt(facts.half_width_pair_bytes)} ({_fmt(cut)} less; the arena shrinks about as much).")
        extra = board.memory.extra_regions
        if extra:
            listed = "; ".join(f"{name} {r.size:,} bytes at {r.origin:#010x}" + (f" ({r.note})" if r.note else "")
                               for name, r in extra.items())
            out.append(f"{board.name} has memory the linker does not use for RAM here: {listed}. Placing "
                       "buffers there needs a custom linker script.")
        reserve = result.ram.reserve_bytes
        if reserve >= short:
            out.append(f"The {result.reserve_percent:g}% reserve margin ({_fmt(reserve)}) covers the shortfall: "
                       f"--reserve-percent {max(0, math.floor(result.reserve_percent * (reserve - short) / reserve))} "
                       "would pass, at the risk of a stack overflow.")
    if other is not None and other.fits:
        out.append(f"The {other.runtime} runtime fits: flash {_fmt(other.flash.used_bytes)}, "
                   f"RAM {_fmt(other.ram.used_bytes)} ({other.basis}); use --runtime {other.runtime}.")
    return out


# ----------------------------------------------------------------------------- the stage

def _registry_fits(facts: ModelFacts, runtime: str, reserve_percent: float | None, boards_dirs,
                   exclude: str, samples: int = 0) -> list[tuple[str, bool]]:
    """(name, is an emulator machine) of every other board the model fits (estimate)."""
    from .boards import list_boards
    names = []
    for b in list_boards(boards_dirs):
        if b.name == exclude:
            continue
        try:
            r = estimate(facts, b, runtime, reserve_percent, samples=samples)
        except TinyMLError:
            continue
        if r.fits:
            names.append((b.name, b.is_emulator))
    return names


def check_fit(model_path: str | Path, board_name, *, runtime: str = "aot", reserve_percent: float | None = None,
              build_dir: str | Path | None = None, elf_path: str | Path | None = None,
              boards_dirs: Iterable[str | Path] | None = None, facts: ModelFacts | None = None,
              advise: bool = True, samples: int = 0) -> FitResult:
    """Check one model on one board. Measured figures are used when a build of
    this model for this board and runtime exists (or elf_path is given);
    otherwise the estimate. `advise` adds suggestions and the boards it fits."""
    from .boards import load_board
    board = load_board(board_name, boards_dirs)
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelError(f"{model_path} does not exist.", path=model_path)
    if facts is None:
        facts = model_facts(model_path)
    result, pre_notes = measured(facts, board, runtime, reserve_percent=reserve_percent, elf_path=elf_path,
                                 build_dir=build_dir)
    if result is None:
        result = estimate(facts, board, runtime, reserve_percent, samples=samples)
    result.notes[:0] = pre_notes
    if advise and not result.fits:
        other_rt = "tflm" if runtime == "aot" else "aot"
        try:
            other = estimate(facts, board, other_rt, reserve_percent, samples=samples)
        except TinyMLError:
            other = None
        result.suggestions = suggestions(result, facts, board, other)
        fits_on = _registry_fits(facts, runtime, reserve_percent, boards_dirs, board.name, samples)
        result.fits_on = [name for name, _ in fits_on]
        dev = [name for name, emulator in fits_on if not emulator]
        emu = [name for name, emulator in fits_on if emulator]
        if fits_on:
            result.suggestions.append(f"With the {runtime} runtime it fits these boards: {', '.join(dev) or 'none'}"
                                      f"; and these emulator machines: {', '.join(emu) or 'none'}.")
        else:
            result.suggestions.append(f"No board of the registry fits it with the {runtime} runtime.")
    return result


def check_path(build_dir: str | Path, board: str, runtime: str) -> Path:
    """Where the fit check of `board` with `runtime` is recorded."""
    return Path(build_dir) / "check" / f"{board}-{runtime}.json"


def check_to_build(model_path: str | Path, board_name, build_dir: str | Path, **kwargs) -> tuple[FitResult, Path]:
    """check_fit, then write <build_dir>/check/<board>-<runtime>.json (one record per runtime:
    checking with tflm does not replace the aot result)."""
    from .artifacts import write_json
    result = check_fit(model_path, board_name, build_dir=build_dir, **kwargs)
    out = check_path(build_dir, result.board, result.runtime)
    write_json(out, result.to_dict())
    return result, out


__all__ = ["ActivationPair", "Budget", "ElfSizes", "FitResult", "Item", "ModelFacts", "RUNTIMES",
           "check_fit", "check_path", "check_to_build", "elf_sizes", "estimate", "load_footprint", "measured", "model_facts",
           "suggestions"]

"""`tinyml firmware`: render a complete, self-contained firmware project.

A project is a folder that builds with plain `make`:

    Makefile, linker.ld            from the board's memory map and core flags
    src/                           startup, harness main, console, clock, samples
    model/                         the runtime's model code (aot: generated C + kernels)
    samples.npz                    the baked inputs (int8) and labels, for the host side
    tinyml_firmware.json           what was rendered: board, machine, run id, clock, ...

Two variants of a board's firmware exist:

- device: for the board itself: its memory map, its console (UART driver of
  its family, or semihosting), its cycle counter (DWT or SysTick), its clock
  init; ends in an idle loop.
- emulator: for running in QEMU: the board's own QEMU machine, or the
  same-core stand-in board its file names (reported as stand_in everywhere);
  the stand-in's memory map and console; the deterministic instruction clock
  (-icount + SysTick, BENCHMARKS.md "Counting on QEMU"); semihosting SYS_EXIT
  ends the run.

Everything a template needs is decided here; which console driver and clock
init a board gets comes only from firmware_templates/boards/*/family.yaml and
the board file, never from the board's name.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts import atomic_dir, read_json, sha256_file, to_json
from .ctemplates import render
from .boards import qemu_systick_hz, source_of
from .errors import BoardError, ConfigError, DatasetError, ModelError
from .runtimes import RUNTIME_SOURCES
from .runtimes.base import HARNESS_DTYPES, ModelSources, harness_io_problem  # noqa: F401  (re-exported)

MANIFEST = "tinyml_firmware.json"
SAMPLES_FILE = "samples.npz"
VARIANTS = ("device", "emulator")
RUNTIMES = ("aot", "tflm")
OPT_LEVELS = ("-Os", "-O2", "-O3")
MAX_SAMPLES = 10000

# Static sources copied from firmware_templates/common into src/.
_COMMON_STATIC = ("startup.c", "tinyml_console.h", "tinyml_print.c", "tinyml_semihosting.h",
                  "tinyml_clock.h")


# ----------------------------------------------------------------------------- samples

@dataclass
class SampleSet:
    """Int8 inputs baked into the firmware (N x input bytes) and their labels."""

    inputs: np.ndarray                 # int8, shape (N, input_bytes)
    labels: np.ndarray | None          # int64, shape (N,), or None
    origin: str                        # one sentence: where they came from

    def __post_init__(self) -> None:
        self.inputs = np.ascontiguousarray(self.inputs, dtype=np.int8)
        if self.inputs.ndim != 2:
            self.inputs = self.inputs.reshape(len(self.inputs), -1)
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)

    @property
    def count(self) -> int:
        return int(self.inputs.shape[0])

    def digest(self) -> str:
        h = hashlib.sha256(self.inputs.tobytes())
        if self.labels is not None:
            h.update(self.labels.tobytes())
        return h.hexdigest()

    def save(self, path: Path) -> None:
        buf = io.BytesIO()
        arrays = {"inputs": self.inputs}
        if self.labels is not None:
            arrays["labels"] = self.labels
        np.savez(buf, **arrays)
        path.write_bytes(buf.getvalue())

    @classmethod
    def load(cls, path: Path, origin: str = "") -> "SampleSet":
        with np.load(path) as data:
            return cls(data["inputs"], data["labels"] if "labels" in data else None, origin)


def benchmark_pattern(input_bytes: int) -> np.ndarray:
    """BENCHMARKS.md's input: byte i = (i*37 + 11) & 0xFF, as int8."""
    i = np.arange(input_bytes, dtype=np.int64)
    return ((i * 37 + 11) & 0xFF).astype(np.uint8).view(np.int8)


def random_samples(input_bytes: int, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(count, input_bytes), dtype=np.int64).astype(np.int8)


# Tensor types each runtime's firmware exchanges with the harness (main.c moves
# bytes: the input bytes are the model's input tensors one after the other, in
# the model's input order, and the same for the outputs).
@dataclass(frozen=True)
class HarnessBytes:
    """Several tensors as the harness sees them: their bytes one after the other."""
    name: str
    nbytes: int
    tensors: tuple


def _joined(tensors) -> object:
    if len(tensors) == 1:
        return tensors[0]
    return HarnessBytes("+".join(t.name for t in tensors), sum(t.nbytes for t in tensors), tuple(tensors))


def _model_io(model_path: Path, runtime: str = "tflm"):
    """(model, input, output): the tensor itself for one tensor, else the
    HarnessBytes of all of them. The default is the most permissive runtime's
    rule (sample sets); render_firmware applies its runtime's."""
    from .tflite_model import load_model

    model = load_model(model_path)
    problem = harness_io_problem(model, runtime)
    if problem is not None:
        raise ModelError(f"{model_path}: {problem}.", path=model_path)
    return model, _joined(model.input_tensors), _joined(model.output_tensors)


def dataset_samples(model_path: Path, dataset_path: Path, count: int) -> SampleSet:
    """The first `count` samples of an .npz (x float32, y labels), quantized to the model's input.

    Quantization follows TFLite's QUANTIZE operator (tinyml.quantize.quantize_array):
    x / scale, rounded half away from zero, plus the zero point, clamped to int8,
    the same rule the quantize stage used for the host int8 accuracy.
    """
    from .quantize import quantize_array

    _, inp, _ = _model_io(model_path)
    if isinstance(inp, HarnessBytes) or inp.dtype != "int8":
        raise DatasetError(f"{dataset_path}: a dataset is quantized to one int8 input tensor; "
                           f"{model_path.name} takes {inp.name!r} ({getattr(inp, 'dtype', 'several tensors')}): "
                           "use seeded inputs (no --dataset).", path=dataset_path)
    try:
        with np.load(dataset_path) as data:
            x, y = data["x"], (data["y"] if "y" in data else None)
    except (OSError, ValueError, KeyError) as exc:
        raise DatasetError(f"{dataset_path} is not an .npz with arrays x (and y): {exc}.",
                           path=dataset_path) from exc
    if len(x) == 0:
        raise DatasetError(f"{dataset_path} holds no samples.", path=dataset_path)
    want = tuple(int(d) for d in inp.shape[1:])
    if tuple(x.shape[1:]) != want and int(np.prod(x.shape[1:])) != int(np.prod(want)):
        raise DatasetError(f"{dataset_path}: samples of shape {tuple(x.shape[1:])} do not fit the model "
                           f"input {want}.", path=dataset_path)
    n = min(count, len(x))
    if x.dtype == np.int8:
        q = x[:n]
    else:
        q = quantize_array(x[:n], float(inp.scale[0]), int(inp.zero_point[0]))
    labels = np.asarray(y[:n]).reshape(n, -1)[:, 0] if y is not None and np.asarray(y).ndim >= 1 else None
    if labels is not None and not np.issubdtype(labels.dtype, np.integer):
        labels = None  # regression / autoencoder targets: no accuracy
    return SampleSet(q.reshape(n, -1), labels,
                     f"the first {n} samples of {dataset_path.name}, quantized with scale "
                     f"{float(inp.scale[0])!r} and zero point {int(inp.zero_point[0])} "
                     "(round half away from zero, clamp to int8)")


def seeded_samples(model_path: Path, count: int, seed: int) -> SampleSet:
    _, inp, _ = _model_io(model_path)
    return SampleSet(random_samples(inp.nbytes, count, seed), None,
                     f"{count} seeded random int8 inputs (numpy default_rng({seed}))")


def bench_samples(model_path: Path, count: int, seed: int) -> SampleSet:
    """BENCHMARKS.md's input pattern as sample 0, then seeded random inputs."""
    _, inp, _ = _model_io(model_path)
    pattern = benchmark_pattern(inp.nbytes)[None, :]
    rest = random_samples(inp.nbytes, max(count - 1, 0), seed)
    return SampleSet(np.concatenate([pattern, rest]), None,
                     f"sample 0 = BENCHMARKS.md pattern (byte i = (i*37+11) & 0xFF), then {count - 1} "
                     f"seeded random int8 inputs (numpy default_rng({seed}))")


def default_samples(build_dir: Path, model_path: Path, count: int, seed: int,
                    dataset: Path | None = None, explicit_model: bool = False) -> SampleSet:
    """Held-out samples when there are some, else seeded random inputs.

    The build's own model uses <build-dir>/model/heldout.npz; a model named on
    the command line uses only a dataset named with it.
    """
    if not 1 <= count <= MAX_SAMPLES:
        raise ConfigError(f"--samples must be between 1 and {MAX_SAMPLES}, got {count}.")
    if dataset is None and not explicit_model:
        heldout = Path(build_dir) / "model" / "heldout.npz"
        if heldout.is_file():
            dataset = heldout
    if dataset is not None:
        return dataset_samples(model_path, Path(dataset), count)
    return seeded_samples(model_path, count, seed)


# ----------------------------------------------------------------------------- families

@dataclass(frozen=True)
class FamilyTemplate:
    family: str                 # folder under firmware_templates/boards/
    template: str               # path relative to firmware_templates/
    data: dict                  # the rest of family.yaml
    configs: dict | None = None  # clock inits: core clock (Hz) -> template values


def _families() -> tuple[dict[str, FamilyTemplate], dict[str, FamilyTemplate]]:
    import yaml

    from .resources import data_dir

    consoles: dict[str, FamilyTemplate] = {}
    inits: dict[str, FamilyTemplate] = {}
    root = data_dir("firmware_templates") / "boards"
    for manifest in sorted(root.glob("*/family.yaml")):
        family = manifest.parent.name
        data = yaml.safe_load(manifest.read_text()) or {}
        rest = {k: v for k, v in data.items() if k not in ("consoles", "clock_inits")}
        for kind, template in (data.get("consoles") or {}).items():
            if kind in consoles:
                raise ConfigError(f"{manifest}: console kind {kind!r} is also provided by "
                                  f"{consoles[kind].family}/family.yaml.", path=manifest)
            consoles[kind] = FamilyTemplate(family, f"boards/{family}/{template}", rest)
        for name, entry in (data.get("clock_inits") or {}).items():
            if isinstance(entry, str):
                entry = {"template": entry}
            configs = {int(k): dict(v or {}) for k, v in (entry.get("configs") or {}).items()} or None
            inits[name] = FamilyTemplate(family, f"boards/{family}/{entry['template']}", rest, configs)
    return consoles, inits


def console_kinds() -> list[str]:
    """Console kinds the firmware can drive: semihosting plus every family's UARTs."""
    return sorted({"semihosting", *_families()[0]})


_STM32_PIN = re.compile(r"^P([A-K])(\d{1,2})$", re.I)
_NRF_PIN = re.compile(r"^P?(\d)\.(\d{1,2})$", re.I)


def _parse_pin(value: Any, where: str) -> dict | None:
    """A TX pin as `PA2` (port letter + pin) or `P0.06` / `0.6` (port.pin) or a plain number."""
    if value is None:
        return None
    text = str(value).strip()
    m = _STM32_PIN.match(text)
    if m:
        port = ord(m[1].upper()) - ord("A")
        pin = int(m[2])
    elif _NRF_PIN.match(text):
        m = _NRF_PIN.match(text)
        port, pin = int(m[1]), int(m[2])
    elif text.isdigit():
        port, pin = 0, int(text)
    else:
        raise BoardError(f"{where}: console.tx_pin {text!r} is not a pin name like PA2 or P0.06.")
    if pin > 31:
        raise BoardError(f"{where}: console.tx_pin {text!r} has no pin {pin}.")
    return {"port": port, "pin": pin, "port_letter": chr(ord("A") + port), "psel": pin | (port << 5),
            "name": text}


def _pick_series(data: dict, mcu: str, where: str) -> dict | None:
    """The family's `series` entry whose match_mcu is the longest prefix of the board's mcu."""
    series = data.get("series")
    if not series:
        return None
    matches = [v for v in series if mcu.upper().startswith(str(v["match_mcu"]).upper())]
    if not matches:
        known = ", ".join(str(v["match_mcu"]) for v in series)
        raise BoardError(f"{where}: mcu {mcu!r} matches no series of the family templates "
                         f"(known: {known}).")
    return max(matches, key=lambda v: len(str(v["match_mcu"])))


# ----------------------------------------------------------------------------- boards

def _load_board(board, boards_dirs):
    from .boards import load_board

    if hasattr(board, "name") and hasattr(board, "memory"):
        return board
    return load_board(board, boards_dirs=boards_dirs)


def _board_field(obj, name: str, default=None):
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None) or {}
        value = extra.get(name, default)
    return value


def _as_dict(obj) -> dict:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return dict(obj)
    if hasattr(obj, "model_dump"):
        data = obj.model_dump()
        data.update(getattr(obj, "model_extra", None) or {})
        return data
    return dict(vars(obj))


def select_console(board, kind: str | None = None) -> dict:
    """The board's console, or the alternative console of that kind (alt_consoles)."""
    main = _as_dict(board.console)
    if kind is None or kind == main.get("kind"):
        return main
    alternatives = [_as_dict(c) for c in (_board_field(board, "alt_consoles") or [])]
    for alt in alternatives:
        if alt.get("kind") == kind:
            return alt
    offered = ", ".join([str(main.get("kind"))] + [str(a.get("kind")) for a in alternatives])
    raise BoardError(f"{source_of(board)}: no console of kind {kind!r} (the board offers: {offered}).")


@dataclass
class ClockPlan:
    kind: str                       # "icount" | "dwt" | "systick"
    unit: str                       # "instructions" | "cycles"
    icount_shift: int | None
    ratio: tuple[int, int] | None   # ticks -> unit
    ratio_basis: str
    description: str
    source: str                     # which clock_*.c implements it


def icount_shift_for(systick_hz: int) -> int:
    """The smallest -icount shift that gives at least one SysTick tick per instruction."""
    tick_ns = 1e9 / systick_hz
    return max(0, math.ceil(math.log2(tick_ns)))


def plan_clock(board, variant: str, machine: str | None = None) -> ClockPlan:
    if variant == "emulator":
        hz, known = qemu_systick_hz(machine or "", int(board.clock_hz))
        shift = icount_shift_for(hz)
        ratio = Fraction(10 ** 9, hz * 2 ** shift)
        basis = "QEMU's model" if known else f"assumed from clock_hz of {source_of(board)}"
        return ClockPlan(
            "icount", "instructions", shift, (ratio.numerator, ratio.denominator),
            f"QEMU -icount shift={shift} advances {2 ** shift} ns per instruction, the SysTick ticks at "
            f"{hz} Hz ({basis} of {machine})",
            "guest instructions counted by QEMU's deterministic -icount clock (not cycles)",
            "clock_systick.c")
    kind = str(_board_field(board, "cycle_counter", "systick"))
    if kind == "dwt":
        return ClockPlan("dwt", "cycles", None, None, "", "core cycles from DWT->CYCCNT", "clock_dwt.c")
    if kind == "systick":
        return ClockPlan("systick", "cycles", None, None, "",
                         "core cycles from SysTick at the processor clock", "clock_systick.c")
    raise BoardError(f"{source_of(board)}: cycle_counter {kind!r} is not dwt or systick.")


# ----------------------------------------------------------------------------- runtimes

# The runtime registry is tinyml.runtimes.RUNTIME_SOURCES (imported above): this
# module asks it which runtime renders the model part; no runtime imports this module.


# ----------------------------------------------------------------------------- render

@dataclass
class FirmwareProject:
    dir: Path
    board: str                      # the board the firmware is for
    target_board: str               # the board file whose memory map/console were used
    runtime: str
    variant: str
    machine: str | None             # QEMU machine (emulator variant)
    stand_in: bool
    run_id: str
    clock_unit: str
    icount_shift: int | None
    console: str                    # console kind the firmware prints on
    serial_index: int               # which UART of the QEMU machine (-serial N) for UART consoles
    core_flags: list[str]
    opt: str
    sample_count: int
    sample_origin: str
    model: str
    model_sha256: str
    arena_bytes: int
    weights_bytes: int
    input_bytes: int
    output_bytes: int
    operators: list[str]
    model_sources: list[str]
    runtime_sources: list[str]
    board_clock_hz: int
    per_layer: bool
    notes: list[str] = field(default_factory=list)

    @property
    def manifest_path(self) -> Path:
        return self.dir / MANIFEST

    @property
    def samples_path(self) -> Path:
        return self.dir / SAMPLES_FILE

    def samples(self) -> SampleSet:
        return SampleSet.load(self.samples_path, self.sample_origin)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("dir")
        return d

    @classmethod
    def load(cls, project_dir: str | Path) -> "FirmwareProject":
        project_dir = Path(project_dir)
        data = read_json(project_dir / MANIFEST)
        try:
            return cls(dir=project_dir, **data)
        except TypeError as exc:
            raise ConfigError(f"{project_dir / MANIFEST} was written by another tinyml version ({exc}); "
                              "render the firmware again.", path=project_dir / MANIFEST) from exc


def project_dir_for(build_dir: Path, board: str, runtime: str, variant: str, emulator: str = "qemu") -> Path:
    name = f"{board}-{runtime}" + (f"-{emulator}" if variant == "emulator" else "")
    return Path(build_dir) / "firmware" / name


def _run_id(*parts: str) -> str:
    """Deterministic per content: the same inputs give the same firmware
    bytes, and any change of model, samples, board or options changes the id
    (the stale-image guard of the harness)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:8]


def render_firmware(model_path: str | Path, board, out_dir: str | Path, *, runtime: str = "aot",
                    variant: str = "device", samples: SampleSet, per_layer: bool = False,
                    opt: str = "-Os", emulator: str = "qemu", boards_dirs=None,
                    run_id: str | None = None, console: str | None = None,
                    runtime_options: dict | None = None) -> FirmwareProject:
    """Render the project into out_dir (replaced atomically).

    runtime_options: extra keyword arguments for the runtime's part (the tflm
    arena calibration passes its own arena_bytes)."""
    from .boards import core_flags

    model_path, out_dir = Path(model_path), Path(out_dir)
    if runtime not in RUNTIME_SOURCES:
        raise ConfigError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}.")
    if variant not in VARIANTS:
        raise ConfigError(f"unknown firmware variant {variant!r}.")
    if opt not in OPT_LEVELS:
        raise ConfigError(f"optimization {opt!r} is not one of {', '.join(OPT_LEVELS)}.")
    if not model_path.is_file():
        raise ModelError(f"{model_path} does not exist; run `tinyml quantize` first or name a .tflite.",
                         path=model_path)
    board = _load_board(board, boards_dirs)
    _, inp, out = _model_io(model_path, runtime)
    if samples.inputs.shape[1] != inp.nbytes:
        raise DatasetError(f"the samples have {samples.inputs.shape[1]} bytes each, the model input "
                           f"{inp.name!r} needs {inp.nbytes}.")

    machine, stand_in, target = None, False, board
    if variant == "emulator":
        machine, target, stand_in = _emulator_target(board, emulator, boards_dirs)
    where = source_of(target)
    clock = plan_clock(target, variant, machine)
    console_cfg = select_console(target, console)
    console_kind = str(console_cfg.get("kind"))
    serial_index = int(console_cfg.get("qemu_serial") or 0)
    families, inits = _families()
    flags = list(core_flags(target, boards_dirs))
    source_name = model_path.name
    model_sha = sha256_file(model_path)
    rid = run_id or _run_id(model_sha, samples.digest(), board.name, target.name, runtime, variant,
                            opt, str(per_layer), json.dumps(flags), console_kind)
    if not re.fullmatch(r"[0-9a-f]{8}", rid):
        raise ConfigError(f"run id {rid!r} is not 8 lowercase hex digits.")

    common = {"source": source_name, "board": board, "board_file": where}
    target_ctx = {"source": source_name, "board": target, "board_file": where}

    # console driver + exit
    files: dict[str, str] = {}
    if console_kind == "semihosting":
        console_src = None
    elif console_kind in families:
        fam = families[console_kind]
        console_src = None  # rendered once the clock init is known (the UART clock depends on it)
    else:
        raise BoardError(f"{where}: console.kind {console_kind!r} has no driver in firmware_templates/boards "
                         f"(available: {', '.join(console_kinds())}).")
    exit_kind = "semihosting" if (variant == "emulator" or console_kind == "semihosting") else "halt"

    # clock init (device builds only: QEMU models clocks as fixed, and a PLL
    # wait loop on an unimplemented RCC would never end)
    init_name = str(_board_field(target, "clock_init", "none") or "none")
    init_src = None
    notes: list[str] = []
    if variant == "device" and init_name != "none":
        init = inits.get(init_name)
        config = None if init is None else (init.configs or {}).get(int(target.clock_hz), None if init.configs else {})
        if init is None or config is None:
            why = (f"has no template in firmware_templates/boards" if init is None
                   else f"has no configuration for clock_hz {target.clock_hz}")
            notes.append(f"clock_init {init_name!r} {why}: the firmware runs at the reset clock, the UART baud "
                         "rate is computed for it, and cycle counts stay cycles (latency at clock_hz is an "
                         "estimate of the intended clock)")
        else:
            init_src = render(init.template, **target_ctx, family=init.data, **config)
    boot = _board_field(target, "boot_stage")
    if variant == "device" and boot is not None:
        raise BoardError(f"{where}: the board needs the boot stage {_board_field(boot, 'name')!r} in front of "
                         "the image, which tinyml cannot build yet; run it with `tinyml emulate` on its stand-in.")

    if console_kind != "semihosting":
        fam = families[console_kind]
        init_ran = init_src is not None or init_name == "none"
        console_src = render(fam.template, **target_ctx,
                             **_console_context(target, console_cfg, fam, where, init_ran=init_ran))
    ram = target.memory.ram
    flash = target.memory.flash
    linker = render("common/linker.ld.j2", **target_ctx,
                    flash={"origin": int(flash.origin), "size": int(flash.size)},
                    ram={"origin": int(ram.origin), "size": int(ram.size)},
                    stack_bytes=int(target.stack_bytes), heap_bytes=int(target.heap_bytes or 0))

    with atomic_dir(out_dir) as tmp:
        model_part = RUNTIME_SOURCES[runtime](model_path, tmp, source_name, board=target, core_flags=flags,
                                              opt=opt, boards_dirs=boards_dirs, **(runtime_options or {}))
        if model_part.input_bytes != inp.nbytes:
            raise ModelError(f"internal error: the {runtime} runtime reports {model_part.input_bytes} input "
                             f"bytes, the model has {inp.nbytes}.")
        src = tmp / "src"
        src.mkdir()
        from .resources import data_dir
        common_dir = data_dir("firmware_templates") / "common"
        for name in _COMMON_STATIC:
            (src / name).write_bytes((common_dir / name).read_bytes())
        files["src/main.c"] = render("common/main.c.j2", **common, run_id=rid, runtime=runtime,
                                     per_layer=per_layer, model_header=model_part.header)
        files["src/tinyml_board.h"] = render("common/tinyml_board.h.j2", **common, clock=clock)
        files["src/tinyml_hooks.h"] = render("common/tinyml_hooks.h.j2", **common, per_layer=per_layer)
        sample_ctx = {"sample_count": samples.count, "sample_bytes": inp.nbytes,
                      "sample_origin": samples.origin.replace("*/", "* /"),
                      "samples": [row.tobytes() for row in samples.inputs]}
        files["src/tinyml_samples.h"] = render("common/tinyml_samples.h.j2", **common, **sample_ctx)
        files["src/tinyml_samples.c"] = render("common/tinyml_samples.c.j2", **common, **sample_ctx)
        files["src/console.c"] = console_src if console_src is not None else \
            (common_dir / "console_semihosting.c").read_text()
        files["src/exit.c"] = (common_dir / f"exit_{exit_kind}.c").read_text()
        files["src/clock.c"] = (common_dir / clock.source).read_text()
        files["src/board_init.c"] = init_src if init_src is not None else \
            (common_dir / "board_init_none.c").read_text()
        files["linker.ld"] = linker
        app_sources = ["src/startup.c", "src/main.c", "src/tinyml_print.c", "src/console.c", "src/exit.c",
                       "src/clock.c", "src/board_init.c", "src/tinyml_samples.c"]
        files["Makefile"] = render(
            "common/Makefile.j2", **common, runtime=runtime, opt=opt, core_flags=flags,
            defines=model_part.defines, c_std="c99",
            include_flags=[f"-I{d}" for d in ["src", *model_part.include_dirs]],
            sources=app_sources + model_part.sources, link_libraries=model_part.link_libraries)
        for rel, text in files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(text)
        samples.save(tmp / SAMPLES_FILE)
        project = FirmwareProject(
            dir=out_dir, board=board.name, target_board=target.name, runtime=runtime, variant=variant,
            machine=machine, stand_in=stand_in, run_id=rid, clock_unit=clock.unit,
            icount_shift=clock.icount_shift, console=console_kind, serial_index=serial_index, core_flags=flags, opt=opt,
            sample_count=samples.count, sample_origin=samples.origin, model=str(model_path),
            model_sha256=model_sha, arena_bytes=model_part.arena_bytes, weights_bytes=model_part.weights_bytes,
            input_bytes=model_part.input_bytes, output_bytes=model_part.output_bytes,
            operators=model_part.operators, model_sources=model_part.model_sources,
            runtime_sources=model_part.runtime_sources, board_clock_hz=int(board.clock_hz),
            per_layer=per_layer, notes=notes)
        (tmp / MANIFEST).write_text(to_json(project.to_dict()))
    return project


def _emulator_target(board, emulator: str, boards_dirs):
    """(machine, board file to build for, stand_in) for the emulator variant."""
    from .boards import qemu_target

    if emulator != "qemu":
        raise ConfigError(f"emulator {emulator!r} cannot run tinyml firmware yet; use --emulator qemu.")
    machine, target, stand_in = qemu_target(board, boards_dirs)
    return machine, target, bool(stand_in)


def _console_context(board, console: dict, fam: FamilyTemplate, where: str, *, init_ran: bool) -> dict:
    """Family facts a console template needs, looked up from its family.yaml data."""
    for key in ("base", "baud"):
        if console.get(key) is None:
            raise BoardError(f"{where}: console.{key} is required for console kind {console.get('kind')!r}.")
    console = dict(console, base=int(console["base"]), baud=int(console["baud"]))
    data = fam.data
    series = _pick_series(data, str(_board_field(board, "mcu", "") or ""), where)
    ctx: dict[str, Any] = {"console": console, "family": data, "series": series,
                           "tx_pin": _parse_pin(console.get("tx_pin"), where),
                           "usart_enable": None, "uart_number": None, "layout": None}
    if series is not None:
        aliases = data.get("layout_aliases") or {}
        wanted = console.get("variant") or console.get("layout") or series.get("layout")
        if wanted is not None and str(wanted) not in aliases:
            raise BoardError(f"{where}: console variant {wanted!r} is not one of {', '.join(aliases)}.")
        ctx["layout"] = aliases.get(str(wanted)) if wanted is not None else None
        if "usart_enable" in series:
            ctx["usart_enable"] = {int(k): v for k, v in series["usart_enable"].items()}.get(console["base"])
    if "baudrates" in data:
        table = {int(k): int(v) for k, v in data["baudrates"].items()}
        if console["baud"] not in table:
            raise BoardError(f"{where}: console.baud {console['baud']} is not one of the rates the "
                             f"{fam.family} UART can make ({', '.join(map(str, sorted(table)))}).")
        ctx["baud_register"] = table[console["baud"]]
    if "uart_numbers" in data:
        ctx["uart_number"] = {int(k): int(v) for k, v in data["uart_numbers"].items()}.get(console["base"])
    # console.clock_hz describes the UART clock once the board's clock init has run.
    no_init = str(_board_field(board, "clock_init", "none") or "none") == "none"
    if console.get("clock_hz") and init_ran:
        ctx["pclk_hz"], ctx["pclk_basis"] = int(console["clock_hz"]), "console clock_hz of the board file"
    elif series is not None and "reset_pclk_hz" in series and (no_init or not init_ran):
        ctx["pclk_hz"], ctx["pclk_basis"] = int(series["reset_pclk_hz"]), "the reset clock, no clock init ran"
    else:
        ctx["pclk_hz"], ctx["pclk_basis"] = int(board.clock_hz), "the core clock"
    if series is not None:
        ctx["vddio2"] = ctx["tx_pin"] is not None and ctx["tx_pin"]["port"] in (series.get("vddio2_ports") or [])
    else:
        ctx["vddio2"] = False
    if ctx["tx_pin"] is not None and series is not None and console.get("gpio_af") is None:
        raise BoardError(f"{where}: console.tx_pin needs console.gpio_af (the pin's alternate function).")
    return ctx


# ----------------------------------------------------------------------------- stage

def resolve_inputs(build_dir: Path, board_name: str, model, samples: int, seed: int, dataset, boards_dirs):
    """The model (named, or the build's int8 model), the board and the samples
    to bake in, as the firmware and emulate stages both need them."""
    explicit = model is not None
    model_path = Path(model) if explicit else build_dir / "quantize" / "model.tflite"
    if not model_path.is_file():
        raise ModelError(f"{model_path} does not exist; run `tinyml quantize -B {build_dir}` first, "
                         "or name a .tflite model.", path=model_path)
    board = _load_board(board_name, boards_dirs)
    sample_set = default_samples(build_dir, model_path, samples, seed,
                                 Path(dataset) if dataset else None, explicit)
    return model_path, board, sample_set


def firmware(build_dir: str | Path, board_name: str, *, runtime: str = "aot", model: str | Path | None = None,
             variant: str = "device", samples: int = 10, seed: int = 0, dataset: str | Path | None = None,
             per_layer: bool = False, opt: str = "-Os", emulator: str = "qemu", boards_dirs=None,
             out_dir: str | Path | None = None, runtime_options: dict | None = None) -> FirmwareProject:
    """The `tinyml firmware` stage: render into <build-dir>/firmware/<board>-<runtime>[-qemu]/.
    runtime_options: see render_firmware (the callers pass tinyml.tflm_calibration's)."""
    build_dir = Path(build_dir)
    model_path, board, sample_set = resolve_inputs(build_dir, board_name, model, samples, seed, dataset,
                                                   boards_dirs)
    dest = Path(out_dir) if out_dir else project_dir_for(build_dir, board.name, runtime, variant, emulator)
    return render_firmware(model_path, board, dest, runtime=runtime, variant=variant, samples=sample_set,
                           per_layer=per_layer, opt=opt, emulator=emulator, boards_dirs=boards_dirs,
                           runtime_options=runtime_options)

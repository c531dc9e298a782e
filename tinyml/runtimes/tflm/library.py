"""The TFLM static library: one per (tree content, compiler, core flags,
optimization, kernel set), built once with concurrent arm-none-eabi-gcc
processes and cached under <cache>/tflm/lib/<key>/.

Flags follow TFLM's Makefile for TARGET=cortex_m_generic with gcc
(BUILD_TYPE=release_with_logs by default, `release` adds
TF_LITE_STRIP_ERROR_STRINGS): core at -Os, kernels and CMSIS-NN at -O2,
-ffunction-sections/-fdata-sections, no RTTI, exceptions or thread-safe
statics, C++17/C17. With kernels="cmsis_nn" the files of
kernels/cmsis_nn/ replace the reference kernels of the same name
(OPTIMIZED_KERNEL_DIR=cmsis_nn) and CMSIS-NN's Source/*.c are added.

Not in the library: TFLM's micro_time.cc (the firmware supplies
tflite::GetCurrentTimeTicks() from the board's cycle counter, so the
per-operator profile is in the same unit as the harness) and the
signal-processing ops (see tree.py).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ... import proc
from ...artifacts import atomic_dir, sha256_file, write_json
from ...errors import ConfigError, ToolError
from ...progress import NullProgress, ProgressSink
from .fetch import tflm_cache_dir
from .tree import MICRO, TFLMTree, is_kernel_source

LIBRARY_NAME = "libtflm.a"
BUILD_RECORD = "build.json"
KERNEL_SETS = ("cmsis_nn", "reference")
_FORMAT = 2  # bump when the way the library is built changes
_TOOLCHAIN_HINT = "install gcc-arm-none-eabi and libstdc++-arm-none-eabi-newlib (make setup)"

_WARNINGS = ["-Wsign-compare", "-Wdouble-promotion", "-Wunused-variable", "-Wunused-function",
             "-Wswitch", "-Wvla", "-Wall", "-Wextra", "-Wmissing-field-initializers",
             "-Wstrict-aliasing", "-Wno-unused-parameter", "-Wno-type-limits"]


def canonical_core_flags(flags) -> tuple[str, ...]:
    """The core flags sorted and without repeats; an option given twice with
    different values (-mcpu=a ... -mcpu=b, where the last one wins) is refused
    rather than guessed."""
    seen: dict[str, str] = {}
    for flag in flags:
        name = flag.split("=", 1)[0]
        if name in seen and seen[name] != flag:
            raise ConfigError(f"core flags name {name} twice ({seen[name]} and {flag}).")
        seen[name] = flag
    return tuple(sorted(seen.values()))


# Per-file workarounds for compiler bugs, applied to the cores they are seen on.
# arm-none-eabi-gcc 12.2.1 20221205 (Debian 15:12.2.rel1-1, binutils 2.40) with
# -mcpu=cortex-m55 (MVE with floating point) at -O2 emits a conditional VCVT in
# an IT block that its own assembler rejects for TFLM's resize_nearest_neighbor.cc:
#   Error: syntax error -- `vcvtne.f32.s32 s15,s17'
# ("vcvtne" parses as MVE's VCVTN, not VCVT with condition NE). -Os and -O3
# compile it; -O3 keeps the kernel optimized for speed. Only the -O2 level is
# replaced, so -Os/-O3 builds and other cores are unchanged.
@dataclass(frozen=True)
class FileOptWorkaround:
    source: str                 # path suffix of the source file
    cpus: tuple[str, ...]       # -mcpu= values it applies to
    bad_opt: str
    opt: str
    why: str


FILE_OPT_WORKAROUNDS = (
    FileOptWorkaround(source=f"{MICRO}/kernels/resize_nearest_neighbor.cc",
                      cpus=("cortex-m55", "cortex-m85"), bad_opt="-O2", opt="-O3",
                      why="arm-none-eabi-gcc 12.2 with MVE-F at -O2: assembler rejects "
                          "'vcvtne.f32.s32' (conditional VCVT read as VCVTN)"),
)


def _cpu(core_flags) -> str | None:
    for flag in core_flags:
        if flag.startswith("-mcpu="):
            return flag.split("=", 1)[1].split("+", 1)[0]
    return None


@dataclass(frozen=True)
class LibraryConfig:
    core_flags: tuple[str, ...]          # -mcpu/-mthumb/-mfloat-abi/-mfpu of the board's core
    kernels: str = "cmsis_nn"            # or "reference"
    core_opt: str = "-Os"                # TFLM's CORE_OPTIMIZATION_LEVEL
    kernel_opt: str = "-O2"              # TFLM's KERNEL_OPTIMIZATION_LEVEL (also CMSIS-NN)
    strip_error_strings: bool = False    # TFLM's BUILD_TYPE=release

    def __post_init__(self) -> None:
        # One canonical order: gcc reads -mcpu/-mthumb/-mfpu/-mfloat-abi independently of their
        # order, so the same core named in another order must be the same library (cache key).
        object.__setattr__(self, "core_flags", canonical_core_flags(self.core_flags))
        if self.kernels not in KERNEL_SETS:
            raise ConfigError(f"unknown TFLM kernel set {self.kernels!r}; choose one of "
                              f"{', '.join(KERNEL_SETS)}.")
        for opt in (self.core_opt, self.kernel_opt):
            if opt not in ("-O0", "-O1", "-O2", "-O3", "-Os", "-Oz", "-Og"):
                raise ConfigError(f"unsupported optimization flag {opt!r} for the TFLM library.")

    def defines(self) -> list[str]:
        """Preprocessor flags the application must share with the library."""
        out = ["-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON", "-DTF_LITE_MCU_DEBUG_LOG",
               "-DKERNELS_OPTIMIZED_FOR_SPEED", "-DNDEBUG"]
        if self.kernels == "cmsis_nn":
            out += ["-DCMSIS_NN", "-DARM_NN_ENABLE_F16=0", "-DARM_NN_ENABLE_F32=0"]
        if self.strip_error_strings:
            out.append("-DTF_LITE_STRIP_ERROR_STRINGS")
        return out

    def common_flags(self) -> list[str]:
        return [*self.core_flags, "-mlittle-endian", "-funsigned-char", "-fomit-frame-pointer",
                "-fno-unwind-tables", "-fno-asynchronous-unwind-tables", "-ffunction-sections",
                "-fdata-sections", "-fmessage-length=0", *self.defines()]

    def cxxflags(self) -> list[str]:
        return ["-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics",
                "-Wnon-virtual-dtor", "-Wno-unused-private-field", *self.common_flags()]

    def cflags(self) -> list[str]:
        return ["-std=c17", "-Wimplicit-function-declaration", *self.common_flags()]

    def opt_for(self, path: str, group: str) -> str:
        """The optimization level of one library source (a workaround may replace it)."""
        opt = self.core_opt if group == "core" else self.kernel_opt
        cpu = _cpu(self.core_flags)
        for w in FILE_OPT_WORKAROUNDS:
            if path.endswith(w.source) and cpu in w.cpus and opt == w.bad_opt:
                return w.opt
        return opt

    def file_opts(self, sources) -> dict[str, str]:
        """Sources whose level differs from their group's (part of the cache key)."""
        out = {}
        for sf in sources:
            opt = self.opt_for(sf.path, sf.group)
            if opt != (self.core_opt if sf.group == "core" else self.kernel_opt):
                out[sf.path] = opt
        return out


@dataclass(frozen=True)
class SourceFile:
    path: str      # relative to the tree root
    group: str     # "core" | "kernel" | "third_party_kernel"


@dataclass
class TFLMLibrary:
    path: Path                 # the .a
    key: str
    config: LibraryConfig
    tree: TFLMTree
    reused: bool
    build_seconds: float       # of the build that made it (0 when unknown)
    object_count: int
    include_dirs: list[Path] = field(default_factory=list)

    @property
    def record(self) -> Path:
        return self.path.parent / BUILD_RECORD

    def app_cxxflags(self) -> list[str]:
        """Flags for the application's C++ that includes TFLM headers."""
        return ["-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics",
                *self.config.defines()]


# --- sources ------------------------------------------------------------------------------

def _cc(tree_root: Path, sub: str, suffixes=(".cc",)) -> list[str]:
    d = tree_root / sub
    if not d.is_dir():
        return []
    return sorted(p.relative_to(tree_root).as_posix() for p in d.iterdir()
                  if p.is_file() and p.name.endswith(suffixes))


def library_sources(tree: TFLMTree, kernels: str) -> list[SourceFile]:
    """The files TFLM's Makefile compiles into libtensorflow-microlite.a for
    cortex_m_generic (+ cmsis_nn), minus micro_time.cc and signal/."""
    root = tree.root
    core = []
    for sub in (MICRO, f"{MICRO}/arena_allocator", f"{MICRO}/memory_planner", f"{MICRO}/tflite_bridge"):
        core += [f for f in _cc(root, sub) if not f.endswith("_test.cc")]
    target_dir = root / MICRO / "cortex_m_generic"
    core = [f"{MICRO}/cortex_m_generic/{Path(f).name}"
            if f.startswith(f"{MICRO}/") and f.count("/") == 3 and (target_dir / Path(f).name).is_file()
            else f for f in core]
    core = [f for f in core if Path(f).name != "micro_time.cc"]
    for dirpath, dirnames, filenames in os.walk(root / "tensorflow"):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        if rel_dir in (MICRO, "tensorflow/lite/experimental"):
            dirnames[:] = []
            continue
        dirnames.sort()
        for fn in sorted(filenames):
            rel = f"{rel_dir}/{fn}"
            if fn.endswith((".cc", ".c")) and rel != "tensorflow/lite/array.cc":
                core.append(rel)
    kernel_files = [f for f in _cc(root, f"{MICRO}/kernels") if is_kernel_source(f)]
    opt_dir = root / MICRO / "kernels" / "cmsis_nn"
    if kernels == "cmsis_nn":
        if not opt_dir.is_dir():
            raise ConfigError(f"{tree.root} has no {MICRO}/kernels/cmsis_nn; use the reference "
                              "kernels or a tree with CMSIS-NN.")
        kernel_files = [f"{MICRO}/kernels/cmsis_nn/{Path(f).name}"
                        if (opt_dir / Path(f).name).is_file() else f for f in kernel_files]
    out = [SourceFile(f, "core") for f in core] + [SourceFile(f, "kernel") for f in kernel_files]
    if kernels == "cmsis_nn":
        nn = tree.third_party / "cmsis_nn" / "Source"
        if not nn.is_dir():
            raise ConfigError(f"{tree.root} has no CMSIS-NN sources (third_party/cmsis_nn/Source).")
        for p in sorted(nn.rglob("*.c")):
            if p.name.endswith(("_f16.c", "_f32.c")) or p.name == "arm_nntables_flt.c":
                continue
            out.append(SourceFile(os.path.relpath(p, root), "third_party_kernel"))
    for sf in out:
        if not (root / sf.path).is_file():
            raise ConfigError(f"{tree.root}: {sf.path} is missing (the TFLM tree is incomplete).")
    return out


def _header_dirs(tree: TFLMTree) -> list[Path]:
    tp = tree.third_party
    return [tree.root / "tensorflow", tree.root / "signal", tp / "flatbuffers" / "include",
            tp / "gemmlowp" / "fixedpoint", tp / "gemmlowp" / "internal", tp / "ruy" / "ruy",
            tp / "cmsis" / "CMSIS" / "Core" / "Include", tp / "cmsis_nn" / "Include"]


def tree_digest(tree: TFLMTree, sources: list[SourceFile]) -> str:
    """SHA-256 over the compiled sources and every header they can include."""
    h = hashlib.sha256()
    files = {tree.root / s.path for s in sources}
    for d in _header_dirs(tree):
        if d.is_dir():
            files.update(p for p in d.rglob("*.h") if p.is_file())
    for p in sorted(files):
        h.update(os.path.relpath(p, tree.root).encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def compiler_identity(cc: str) -> str:
    res = proc.run([cc, "--version"], timeout_s=30)
    return res.stdout.splitlines()[0].strip() if res.stdout else cc


def library_key(tree: TFLMTree, config: LibraryConfig, sources: list[SourceFile], compiler: str) -> tuple[str, dict]:
    inputs = {
        "format": _FORMAT,
        "tree_sha256": tree_digest(tree, sources),
        "tflm_ref": tree.ref,
        "compiler": compiler,
        "config": {"core_flags": list(config.core_flags), "kernels": config.kernels,
                   "core_opt": config.core_opt, "kernel_opt": config.kernel_opt,
                   "strip_error_strings": config.strip_error_strings},
        "cxxflags": config.cxxflags(),
        "cflags": config.cflags(),
        "file_opts": config.file_opts(sources),
        "sources": [s.path for s in sources],
    }
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:24]
    return key, inputs


# --- build --------------------------------------------------------------------------------

def libraries_dir() -> Path:
    return tflm_cache_dir() / "lib"


@contextlib.contextmanager
def _lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _existing(out_dir: Path, key: str) -> dict | None:
    lib, rec = out_dir / LIBRARY_NAME, out_dir / BUILD_RECORD
    if not (lib.is_file() and rec.is_file()):
        return None
    try:
        record = json.loads(rec.read_text())
    except json.JSONDecodeError:
        return None
    if record.get("key") != key or record.get("library_sha256") != sha256_file(lib):
        return None
    return record


def build_library(tree: TFLMTree, config: LibraryConfig, *, jobs: int | None = None,
                  progress: ProgressSink | None = None, force: bool = False) -> TFLMLibrary:
    """Return the cached library for this configuration, building it if needed."""
    progress = progress or NullProgress()
    cc = proc.require_tool("arm-none-eabi-gcc", _TOOLCHAIN_HINT)
    cxx = proc.require_tool("arm-none-eabi-g++", _TOOLCHAIN_HINT)
    ar = proc.require_tool("arm-none-eabi-ar", _TOOLCHAIN_HINT)
    sources = library_sources(tree, config.kernels)
    key, inputs = library_key(tree, config, sources, compiler_identity(cc))
    out_dir = libraries_dir() / key
    include_dirs = tree.include_dirs()

    def result(record: dict, reused: bool) -> TFLMLibrary:
        return TFLMLibrary(path=out_dir / LIBRARY_NAME, key=key, config=config, tree=tree,
                           reused=reused, build_seconds=float(record.get("build_seconds", 0.0)),
                           object_count=int(record.get("object_count", 0)), include_dirs=include_dirs)

    with _lock(libraries_dir() / f".{key}.lock"):
        record = None if force else _existing(out_dir, key)
        if record is not None:
            return result(record, True)
        failure = None if force else _failure(key)
        if failure is not None:
            # Remembered: the same inputs fail the same way, so a bench of many
            # models reports it once instead of recompiling for each of them.
            raise _failure_error(failure, remembered=True)
        for stale in libraries_dir().glob(f".{key}.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed build of this key
        started = time.monotonic()
        # Relative to the tree (the compiler runs there): __FILE__ in TFLM's
        # headers then names no directory of this machine.
        includes = [f"-I{os.path.relpath(d, tree.root)}" for d in include_dirs]
        with atomic_dir(out_dir) as tmp:
            objs = tmp / "obj"
            objs.mkdir()
            commands = []
            seen: set[str] = set()
            for sf in sources:
                obj_name = sf.path.replace("/", "_").replace("..", "_")
                obj_name = obj_name.rsplit(".", 1)[0] + ".o"
                if obj_name in seen:
                    raise ConfigError(f"two TFLM sources map to the object {obj_name}.")
                seen.add(obj_name)
                opt = config.opt_for(sf.path, sf.group)
                if sf.path.endswith(".c"):
                    argv = [cc, *config.cflags(), *_WARNINGS, opt]
                else:
                    argv = [cxx, *config.cxxflags(), *_WARNINGS, opt]
                # Relative source paths keep __FILE__ (in TFLM's error messages)
                # free of this machine's directories: same tree, same library bytes.
                argv += [*includes, "-c", sf.path, "-o", str(objs / obj_name)]
                commands.append((sf, argv, objs / obj_name))
            progress.start(f"building TFLM ({config.kernels} kernels, {len(commands)} files)",
                           len(commands))
            failed = _compile_all(commands, tree.root, tmp / "logs", jobs or os.cpu_count() or 1,
                                  progress)
            if failed is not None:
                sf, res = failed
                if res.timed_out:   # a loaded machine, not the inputs: not remembered
                    raise ToolError(f"compiling TFLM's {sf.path} timed out after 900 s "
                                    "(not remembered: the next build retries).")
                raise _failure_error(_remember_failure(key, config, sf, res), remembered=False)
            lib = tmp / LIBRARY_NAME
            obj_files = [str(o) for _, _, o in commands]
            # D: deterministic (zero timestamps/uids), s: symbol index.
            proc.run([ar, "rcsD", str(lib), *obj_files], timeout_s=300,
                     log_path=tmp / "logs" / "ar.log")
            shutil.rmtree(objs)
            shutil.rmtree(tmp / "logs", ignore_errors=True)
            record = {
                "key": key,
                "inputs": inputs,
                "tree": str(tree.root),
                "object_count": len(commands),
                "build_seconds": round(time.monotonic() - started, 2),
                "library_sha256": sha256_file(lib),
                "library_bytes": lib.stat().st_size,
            }
            write_json(tmp / BUILD_RECORD, record)
        shutil.rmtree(failures_dir() / key, ignore_errors=True)   # a forced retry that worked
        return result(record, False)


def _compile_all(commands, cwd: Path, log_dir: Path, jobs: int, progress: ProgressSink):
    """Compile every source; returns None, or (source, result) of the first failure."""
    log_dir.mkdir(parents=True, exist_ok=True)

    def one(item):
        sf, argv, obj = item
        log = log_dir / (obj.stem + ".log")
        res = proc.run(argv, cwd=cwd, timeout_s=900, log_path=log, check=False)
        return sf, res

    failed = None
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(one, c) for c in commands]
        for fut in concurrent.futures.as_completed(futures):
            sf, res = fut.result()
            if res.returncode != 0 or res.timed_out:
                failed = (sf, res)
                for f in futures:
                    f.cancel()
                break
            progress.advance(1, Path(sf.path).name)
    return failed


def failures_dir() -> Path:
    return libraries_dir() / "failed"


def _failure(key: str) -> dict | None:
    rec = failures_dir() / key / "failure.json"
    try:
        return json.loads(rec.read_text()) if rec.is_file() else None
    except json.JSONDecodeError:
        return None


def _remember_failure(key: str, config: LibraryConfig, sf: SourceFile, res) -> dict:
    """Keep the failing file's log and a record under failed/<key>/ (outside
    the library's own directory, which only a complete build creates)."""
    with atomic_dir(failures_dir() / key) as tmp:
        log = tmp / (Path(sf.path).name + ".log")
        shutil.copyfile(res.log_path, log)
        tail = (res.stderr.strip() or res.stdout.strip()).splitlines()
        errors = [line for line in tail if "error" in line.lower()]
        record = {"key": key, "source": sf.path, "core_flags": list(config.core_flags),
                  "opt": config.opt_for(sf.path, sf.group), "timed_out": bool(res.timed_out),
                  "first_error": (errors or tail or ["(no output)"])[0].strip()[:300],
                  "log": str(failures_dir() / key / log.name)}
        write_json(tmp / "failure.json", record)
    return record


class LibraryBuildError(ToolError):
    """The TFLM library of a configuration does not build (remembered in the cache)."""


def _failure_error(record: dict, *, remembered: bool) -> LibraryBuildError:
    # The same sentence the first time and when remembered: a bench of many
    # models shows it once.
    flags = " ".join(record.get("core_flags", []))
    msg = (f"the TFLM library for {flags} does not build: compiling {record['source']} at "
           f"{record['opt']} failed ({record['first_error']}; log: {record['log']}).")
    hint = ("Remembered from an earlier build of the same tree, compiler and flags: not compiled "
            "again. `tinyml tflm build --board BOARD --force` retries." if remembered else
            "Remembered: later builds of this configuration report it without compiling again "
            "(`tinyml tflm build --board BOARD --force` retries).")
    return LibraryBuildError(msg, hint=hint, log_path=Path(record["log"]))


def cached_libraries() -> list[dict]:
    """Records of every library in the cache (newest first)."""
    out = []
    root = libraries_dir()
    if not root.is_dir():
        return out
    for d in root.iterdir():
        rec = d / BUILD_RECORD
        if d.is_dir() and rec.is_file():
            try:
                data = json.loads(rec.read_text())
            except json.JSONDecodeError:
                continue
            data["path"] = str(d / LIBRARY_NAME)
            data["mtime"] = (d / LIBRARY_NAME).stat().st_mtime if (d / LIBRARY_NAME).exists() else 0
            out.append(data)
    out.sort(key=lambda r: r["mtime"], reverse=True)
    return out


__all__ = ["canonical_core_flags", "failures_dir", "LibraryBuildError", "FILE_OPT_WORKAROUNDS", "LibraryConfig", "TFLMLibrary", "build_library", "library_sources", "cached_libraries",
           "libraries_dir", "KERNEL_SETS"]

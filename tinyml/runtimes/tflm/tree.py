"""The TFLM source tree: which files make it, its manifest, and finding one.

The selection follows TFLM's project generation
(tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py, which
copies `make list_library_sources list_library_headers
list_third_party_sources list_third_party_headers`) for TARGET=cortex_m_generic
OPTIMIZED_KERNEL_DIR=cmsis_nn, with the same layout: TFLM's files at their
repository paths, dependencies under third_party/<name>/. Differences, each
deliberate:

- the reference kernels that cmsis_nn specializes (kernels/conv.cc, ...) are
  kept next to kernels/cmsis_nn/, so one tree builds both kernel sets;
- the signal-processing library (signal/*.cc, and kissfft which only it needs)
  is left out: no TFLite builtin operator uses it. Its headers stay, because
  micro_mutable_op_resolver.h includes two of them;
- CMSIS core headers include m-profile/*.h (the Makefile's wildcard lists the
  top level only, which does not compile on its own); Cortex_DFP (device
  headers for TFLM's DWT-based micro_time.cc) is not needed: the firmware
  provides its own clock (the board's cycle counter).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError
from .pins import FLATBUFFERS_PATCH, MANIFEST_FILE, PROVENANCE_FILE

_OWN_FILES = {PROVENANCE_FILE, MANIFEST_FILE}

MICRO = "tensorflow/lite/micro"
SOURCES_INC = f"{MICRO}/tools/make/sources.inc"


# --- selection ----------------------------------------------------------------------------

def _files(root: Path, subdir: str, patterns: tuple[str, ...], recursive: bool = False) -> list[str]:
    base = root / subdir
    if not base.is_dir():
        return []
    found = set()
    for pattern in patterns:
        for p in (base.rglob(pattern) if recursive else base.glob(pattern)):
            if p.is_file() and not p.is_symlink():
                found.add(p.relative_to(root).as_posix())
    return sorted(found)


def is_kernel_source(name: str) -> bool:
    """A kernels/*.cc that belongs to the library (not a test or test data)."""
    return (name.endswith(".cc") and not name.endswith("_test.cc")
            and not name.endswith("test_common.cc") and not name.endswith("generated_data.cc"))


def tflm_files(root: Path) -> list[str]:
    """The TFLM repository paths of the tree (a TFLM checkout or archive at `root`)."""
    out: set[str] = {"LICENSE"}
    for sub in ("", "arena_allocator", "memory_planner", "tflite_bridge"):
        d = f"{MICRO}/{sub}".rstrip("/")
        out.update(f for f in _files(root, d, ("*.cc",)) if not f.endswith("_test.cc"))
        out.update(_files(root, d, ("*.h",)))
    # TfLite code shared with TFLM (sources.inc TFL_CC_SRCS / TFL_CC_HDRS).
    for f in _files(root, "tensorflow", ("*.cc", "*.c", "*.h"), recursive=True):
        if f.startswith((f"{MICRO}/", "tensorflow/lite/experimental/")):
            continue
        if f in ("tensorflow/lite/array.cc", "tensorflow/lite/array.h"):
            continue  # excluded under TF_LITE_STATIC_MEMORY
        out.add(f)
    out.update(f for f in _files(root, f"{MICRO}/kernels", ("*.cc",)) if is_kernel_source(f))
    out.update(_files(root, f"{MICRO}/kernels", ("*.h",)))
    out.update(_files(root, f"{MICRO}/kernels/cmsis_nn", ("*.cc", "*.h")))
    out.update(_files(root, f"{MICRO}/cortex_m_generic", ("*.cc", "*.h")))
    out.update(_files(root, "signal/micro/kernels", ("*.h",)))
    out.update(_files(root, "signal/src", ("*.h",)))
    return sorted(out)


def third_party_headers_from_sources_inc(text: str) -> dict[str, list[str]]:
    """THIRD_PARTY_CC_HDRS of sources.inc: name -> paths inside that dependency."""
    m = re.search(r"^THIRD_PARTY_CC_HDRS\s*:?=\s*\\\n((?:.*\\\n)*.*)$", text, re.M)
    if m is None:
        raise ConfigError(f"{SOURCES_INC} has no THIRD_PARTY_CC_HDRS list; tinyml cannot tell "
                          "which third-party headers this TFLM revision needs.")
    out: dict[str, list[str]] = {}
    for item in m.group(1).replace("\\\n", " ").split():
        im = re.match(r"^\$\(DOWNLOADS_DIR\)/([^/]+)/(.+)$", item)
        if im:
            out.setdefault(im.group(1), []).append(im.group(2))
    return out


def dependency_files(name: str, root: Path, listed: dict[str, list[str]]) -> list[str]:
    """Paths inside dependency `name` (extracted at `root`) that go into the tree."""
    if name in ("flatbuffers", "gemmlowp", "ruy"):
        if name not in listed:
            raise ConfigError(f"{SOURCES_INC} lists no {name} headers.")
        return sorted(listed[name])
    if name == "cmsis":
        inc = "CMSIS/Core/Include"
        return sorted(["LICENSE"] + _files(root, inc, ("*.h",)) + _files(root, f"{inc}/m-profile", ("*.h",)))
    if name == "cmsis_nn":
        sources = [f for f in _files(root, "Source", ("*.c",), recursive=True)
                   if not f.endswith(("_f16.c", "_f32.c")) and not f.endswith("/arm_nntables_flt.c")]
        return sorted(["LICENSE"] + _files(root, "Include", ("*.h",), recursive=True) + sources)
    raise KeyError(name)


def select_files(roots: dict[str, Path]) -> dict[str, Path]:
    """Tree path -> source file, for extracted sources named as in pins.SOURCE_NAMES."""
    tflm = roots["tflite-micro"]
    selected = {rel: tflm / rel for rel in tflm_files(tflm)}
    try:
        listed = third_party_headers_from_sources_inc((tflm / SOURCES_INC).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"the TFLM source has no {SOURCES_INC}; is it a tflite-micro tree?") from exc
    for name, root in roots.items():
        if name == "tflite-micro":
            continue
        for rel in dependency_files(name, root, listed):
            selected[f"third_party/{name}/{rel}"] = root / rel
    missing = sorted(dest for dest, src in selected.items() if not src.is_file())
    if missing:
        raise ConfigError(f"the sources lack {len(missing)} file(s) TFLM needs, e.g. {missing[0]}.")
    return selected


# --- patches (TFLM patches flatbuffers for static memory) ------------------------------------

class PatchError(ConfigError):
    pass


def _norm_ws(line: str) -> str:
    return " ".join(line.split())


def apply_unified_diff(root: Path, patch_text: str, *, strip: int = 1,
                       only: set[str] | None = None) -> list[str]:
    """Apply a git-style unified diff under `root` (like `git apply
    --ignore-whitespace`: context is matched exactly first, then ignoring
    whitespace; no fuzz). Files outside `only` (paths relative to root) are
    skipped. Returns the patched paths; raises PatchError if a hunk does not apply.
    """
    lines = patch_text.splitlines(keepends=True)
    i = 0
    patched = []
    while i < len(lines):
        if not lines[i].startswith("--- ") or i + 1 >= len(lines) or not lines[i + 1].startswith("+++ "):
            i += 1
            continue
        target = lines[i + 1][4:].strip().split("\t")[0]
        rel = "/".join(target.split("/")[strip:])
        i += 2
        hunks = []
        while i < len(lines) and lines[i].startswith("@@"):
            m = re.match(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", lines[i])
            if m is None:
                raise PatchError(f"malformed hunk header in patch: {lines[i].strip()}")
            old_n = int(m.group(2) if m.group(2) is not None else 1)
            new_n = int(m.group(4) if m.group(4) is not None else 1)
            start = int(m.group(1))
            i += 1
            old, new = [], []
            while (len(old) < old_n or len(new) < new_n) and i < len(lines):
                line = lines[i]
                tag, body = line[:1], line[1:]
                if line.startswith("\\"):
                    i += 1
                    continue
                if tag == " " or line in ("\n", "\r\n"):
                    body = body if tag == " " else "\n"
                    old.append(body)
                    new.append(body)
                elif tag == "-":
                    old.append(body)
                elif tag == "+":
                    new.append(body)
                else:
                    raise PatchError(f"malformed hunk for {rel}: {line.strip()}")
                i += 1
            hunks.append((start, old, new))
        if only is not None and rel not in only:
            continue
        path = root / rel
        if not path.is_file():
            raise PatchError(f"the patch changes {rel}, which is not in the tree.")
        content = path.read_text().splitlines(keepends=True)
        offset = 0
        for start, old, new in hunks:
            at = _find_hunk(content, old, start - 1 + offset)
            if at is None:
                raise PatchError(f"a hunk of the TFLM patch does not apply to {rel} "
                                 f"(line {start}); the sources are not the pinned ones.")
            content[at:at + len(old)] = new
            offset += len(new) - len(old)
        path.write_text("".join(content))
        patched.append(rel)
    return patched


def _find_hunk(content: list[str], old: list[str], guess: int) -> int | None:
    n = len(old)
    order = sorted(range(0, len(content) - n + 1), key=lambda k: abs(k - guess))
    for compare in (lambda a, b: a == b, lambda a, b: _norm_ws(a) == _norm_ws(b)):
        for k in order:
            if all(compare(content[k + j], old[j]) for j in range(n)):
                return k
    return None


def patch_flatbuffers(tree: Path, tflm_source: Path) -> list[str]:
    """TFLM's flatbuffers.patch (from the TFLM source), applied to the tree's
    flatbuffers the way TFLM's download script does."""
    patch = tflm_source / FLATBUFFERS_PATCH
    fb = tree / "third_party" / "flatbuffers"
    if not patch.is_file():
        raise ConfigError(f"the TFLM source has no {FLATBUFFERS_PATCH}.")
    present = {p.relative_to(fb).as_posix() for p in fb.rglob("*") if p.is_file()}
    return apply_unified_diff(fb, patch.read_text(), only=present)


# --- manifest -----------------------------------------------------------------------------

def compute_manifest(tree: Path) -> dict[str, str]:
    """Tree path -> SHA-256 of every file (tinyml's own records excluded)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        for fn in filenames:
            p = Path(dirpath) / fn
            rel = p.relative_to(tree).as_posix()
            if rel in _OWN_FILES:
                continue
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def compare_manifest(actual: dict[str, str], expected: dict[str, str]) -> list[str]:
    """Human-readable differences, empty when identical."""
    problems = []
    for rel in sorted(set(expected) - set(actual)):
        problems.append(f"missing {rel}")
    for rel in sorted(set(actual) - set(expected)):
        problems.append(f"unexpected {rel}")
    for rel in sorted(set(actual) & set(expected)):
        if actual[rel] != expected[rel]:
            problems.append(f"SHA-256 of {rel} is {actual[rel][:12]}..., pinned {expected[rel][:12]}...")
    return problems


# --- an existing tree ---------------------------------------------------------------------

@dataclass(frozen=True)
class TFLMTree:
    root: Path
    third_party: Path        # holds flatbuffers/, gemmlowp/, ruy/, cmsis/, cmsis_nn/
    origin: str              # "--tflm-dir", "TINYML_TFLM_DIR" or "cache"
    provenance: dict | None  # tinyml-tflm.json when tinyml assembled it

    @property
    def ref(self) -> str | None:
        return (self.provenance or {}).get("ref")

    def include_dirs(self) -> list[Path]:
        """Like TFLM's Makefile INCLUDES for cortex_m_generic + cmsis_nn."""
        tp = self.third_party
        return [self.root, tp, tp / "gemmlowp", tp / "flatbuffers" / "include", tp / "ruy",
                tp / "cmsis", tp / "cmsis_nn", tp / "cmsis" / "CMSIS" / "Core" / "Include",
                tp / "cmsis_nn" / "Include"]


_THIRD_PARTY_CANDIDATES = ("third_party", f"{MICRO}/tools/make/downloads")


def inspect_tree(path: Path, origin: str) -> TFLMTree | None:
    """A TFLMTree when `path` holds TFLM sources with their third-party
    headers (a tree tinyml assembled, one from create_tflm_tree.py, or a
    tflite-micro checkout after `make third_party_downloads`); else None."""
    path = Path(path)
    if not (path / MICRO / "micro_interpreter.h").is_file():
        return None
    for cand in _THIRD_PARTY_CANDIDATES:
        tp = path / cand
        if (tp / "flatbuffers" / "include" / "flatbuffers" / "flatbuffers.h").is_file():
            provenance = None
            prov = path / PROVENANCE_FILE
            if prov.is_file():
                try:
                    provenance = json.loads(prov.read_text())
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{prov} is not valid JSON ({exc.msg}); run "
                                      "`tinyml tflm fetch --force` to rebuild the tree.",
                                      path=prov) from exc
            return TFLMTree(root=path.resolve(), third_party=tp.resolve(), origin=origin,
                            provenance=provenance)
    return None


def explain_not_a_tree(path: Path) -> str:
    if not path.exists():
        return f"{path} does not exist"
    if not (path / MICRO / "micro_interpreter.h").is_file():
        return f"{path} has no {MICRO}/micro_interpreter.h (not a TFLM tree)"
    return (f"{path} has no third-party headers (third_party/flatbuffers or "
            f"{MICRO}/tools/make/downloads/flatbuffers)")


__all__ = ["TFLMTree", "inspect_tree", "select_files", "compute_manifest", "compare_manifest",
           "apply_unified_diff", "patch_flatbuffers", "PatchError"]

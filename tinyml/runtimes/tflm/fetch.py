"""`tinyml tflm fetch`: assemble a verified TFLM tree in the cache, atomically.

Two ways in, one check:

- download: one archive per source (tflite-micro and each dependency at the
  commit TFLM pins for it), fetched over HTTPS with urllib;
- --from DIR...: the same commits exported with `git archive` from local
  clones (checkouts or bare repositories), for machines without internet.

Either way the files are selected (tree.select_files), TFLM's flatbuffers
patch is applied, and the SHA-256 of every file of the assembled tree is
compared with the manifest shipped in pins/<ref>.json. Only a tree that
matches file for file is renamed into the cache; a failed download, an
interrupted one, a checksum mismatch or a missing archive leaves nothing
behind (the tree is assembled in a temporary sibling directory).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ...artifacts import atomic_dir, atomic_write_text, to_json
from ...errors import ConfigError, ToolError
from ...progress import NullProgress, ProgressSink
from ... import proc
from . import pins as pins_mod
from .pins import DEFAULT_REF, Pin, SourcePin, archive_url, manifest_digest, manifest_text
from .tree import (MANIFEST_FILE, PROVENANCE_FILE, compare_manifest, compute_manifest,
                   inspect_tree, patch_flatbuffers, select_files)

DOWNLOAD_TIMEOUT_S = 60
_CHUNK = 1 << 16
# Only these parts of the tflite-micro archive can end up in the tree.
_TFLM_PREFIXES = ("tensorflow/", "signal/", "LICENSE")


def cache_root() -> Path:
    """$TINYML_CACHE_DIR, else $XDG_CACHE_HOME/tinyml, else ~/.cache/tinyml."""
    env = os.environ.get("TINYML_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "tinyml"


def tflm_cache_dir() -> Path:
    return cache_root() / "tflm"


@dataclass(frozen=True)
class FetchResult:
    tree: Path
    ref: str
    method: str            # "download" | "git" | "cached"
    verified: bool         # matched a shipped manifest
    file_count: int
    tree_bytes: int
    manifest_sha256: str
    seconds: float


def resolve_pin(ref: str | None, allow_unverified: bool) -> Pin | None:
    """The shipped pin for `ref`; None (unverified) only when allowed."""
    ref = ref or DEFAULT_REF
    pin = pins_mod.load_pin(ref)
    if pin is None and not allow_unverified:
        raise ConfigError(
            f"tinyml has no verified manifest for TFLM ref {ref}.",
            hint=("Pinned refs: " + ", ".join(pins_mod.pinned_refs())
                  + ". Add --allow-unverified to assemble another commit with the dependency "
                  "commits its own download scripts name (recorded as unverified)."))
    if pin is None and not pins_mod.is_commit(ref):
        raise ConfigError(f"--ref must be a full 40-hex tflite-micro commit, not {ref!r}.")
    return pin


def fetch(*, ref: str | None = None, from_dirs: list[Path] | None = None,
          dest_root: Path | None = None, force: bool = False, allow_unverified: bool = False,
          pin: Pin | None = None, progress: ProgressSink | None = None) -> FetchResult:
    """Assemble the tree of `ref` (default: the pinned TFLM) into
    <dest_root or cache>/<ref>. `pin` replaces the shipped pin (tests)."""
    started = time.monotonic()
    progress = progress or NullProgress()
    if pin is None:
        pin = resolve_pin(ref, allow_unverified)
    ref = pin.ref if pin is not None else (ref or DEFAULT_REF)
    dest_root = Path(dest_root) if dest_root is not None else tflm_cache_dir()
    dest = dest_root / ref
    existing = inspect_tree(dest, "cache") if dest.is_dir() else None
    # A cached tree is reused only if it is the one this pin describes (an
    # unverified tree of the same ref is assembled again when a pin exists).
    reusable = existing is not None and existing.provenance is not None and (
        pin is None or existing.provenance.get("manifest_sha256") == pin.manifest_sha256)
    if reusable and not force:
        prov = existing.provenance
        return FetchResult(dest, ref, "cached", bool(prov.get("verified")), prov.get("file_count", 0),
                           prov.get("tree_bytes", 0), prov.get("manifest_sha256", ""),
                           time.monotonic() - started)

    dest_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=dest_root))
    try:
        with atomic_dir(dest) as tmp:
            if from_dirs:
                roots, sources = _export_from_git(ref, pin, [Path(d) for d in from_dirs], staging, progress)
                method = "git"
            else:
                roots, sources = _download_all(ref, pin, staging, progress)
                method = "download"
            manifest = _assemble(roots, tmp, pin, progress)
            tree_bytes = sum((tmp / rel).stat().st_size for rel in manifest)
            digest = manifest_digest(manifest)
            provenance = {
                "tool": "tinyml",
                "ref": ref,
                "method": method,
                "verified": pin is not None,
                "pinned_manifest_sha256": pin.manifest_sha256 if pin is not None else None,
                "manifest_sha256": digest,
                "file_count": len(manifest),
                "tree_bytes": tree_bytes,
                "sources": sources,
            }
            atomic_write_text(tmp / MANIFEST_FILE, manifest_text(manifest))
            atomic_write_text(tmp / PROVENANCE_FILE, to_json(provenance))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return FetchResult(dest, ref, method, pin is not None, len(manifest), tree_bytes, digest,
                       time.monotonic() - started)


def _assemble(roots: dict[str, Path], tmp: Path, pin: Pin | None, progress: ProgressSink) -> dict[str, str]:
    selected = select_files(roots)
    progress.start("assembling the TFLM tree", len(selected))
    for dest_rel, src in selected.items():
        out = tmp / dest_rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out)
        progress.advance(1)
    patch_flatbuffers(tmp, roots["tflite-micro"])
    manifest = compute_manifest(tmp)
    if pin is not None:
        problems = compare_manifest(manifest, pin.manifest)
        if problems:
            raise ToolError(
                f"the assembled TFLM tree does not match the pinned manifest of {pin.ref} "
                f"({len(problems)} difference(s), first: {problems[0]}); nothing was installed.",
                hint="The sources are not the pinned commits, or an archive was altered.")
    return manifest


# --- download -----------------------------------------------------------------------------

def _source_list(ref: str, pin: Pin | None, tflm_root: Path | None,
                 resolve=None) -> list[SourcePin]:
    """The sources to fetch: the pin's, or (unverified) those TFLM's scripts name."""
    if pin is not None:
        return list(pin.sources)
    assert tflm_root is not None
    deps = pins_mod.dependency_refs(lambda rel: (tflm_root / rel).read_text())
    out = []
    for name, dep in deps.items():
        commit = resolve(dep) if resolve else dep.ref
        tag = None if pins_mod.is_commit(dep.ref) else dep.ref
        url = (archive_url(dep.repo, dep.ref) if pins_mod.is_commit(dep.ref)
               else f"https://github.com/{dep.repo}/archive/refs/tags/{dep.ref}.tar.gz")
        out.append(SourcePin(name=name, repo=dep.repo, commit=commit, url=url, tag=tag,
                             tflm_url=dep.tflm_url, tflm_md5=dep.tflm_md5))
    return out


def _download_all(ref: str, pin: Pin | None, staging: Path,
                  progress: ProgressSink) -> tuple[dict[str, Path], list[dict]]:
    roots: dict[str, Path] = {}
    records = []
    tflm_src = pin.source("tflite-micro") if pin is not None else SourcePin(
        "tflite-micro", pins_mod.TFLM_REPO, ref, archive_url(pins_mod.TFLM_REPO, ref))
    todo = [tflm_src]
    if pin is not None:
        todo += [s for s in pin.sources if s.name != "tflite-micro"]
    i = 0
    while i < len(todo):
        src = todo[i]
        archive = staging / f"{src.name}.archive"
        sha = download(src.url, archive, progress, f"downloading {src.name}")
        if src.archive_sha256 and sha != src.archive_sha256:
            raise ToolError(f"checksum mismatch for {src.url}: SHA-256 {sha}, pinned "
                            f"{src.archive_sha256}; nothing was installed.")
        roots[src.name] = extract_archive(archive, staging / src.name,
                                          _TFLM_PREFIXES if src.name == "tflite-micro" else None)
        archive.unlink()
        records.append(dataclasses.asdict(src) | {"archive_sha256": sha})
        if pin is None and src.name == "tflite-micro":
            todo += _source_list(ref, None, roots["tflite-micro"])
        i += 1
    return roots, records


def download(url: str, dest: Path, progress: ProgressSink, description: str) -> str:
    """Stream `url` to `dest`; returns its SHA-256. Raises ToolError when the
    server is unreachable, answers with an error, or the body ends early."""
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            progress.start(description, total)
            with open(dest, "wb") as fh:
                while True:
                    chunk = resp.read(_CHUNK)
                    if not chunk:
                        break
                    fh.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    progress.advance(len(chunk))
    except urllib.error.HTTPError as exc:
        raise ToolError(f"cannot download {url}: HTTP {exc.code} {exc.reason}; nothing was installed.",
                        hint=_OFFLINE_HINT) from exc
    except urllib.error.URLError as exc:
        raise ToolError(f"cannot download {url}: {exc.reason}; nothing was installed.",
                        hint=_OFFLINE_HINT) from exc
    except (OSError, EOFError) as exc:  # reset connection, timeout, IncompleteRead
        raise ToolError(f"the download of {url} was interrupted after {received} bytes ({exc}); "
                        "nothing was installed.", hint=_OFFLINE_HINT) from exc
    if total is not None and received != total:
        raise ToolError(f"the download of {url} ended after {received} of {total} bytes; "
                        "nothing was installed.", hint=_OFFLINE_HINT)
    return digest.hexdigest()


_OFFLINE_HINT = ("Without internet access, clone tflite-micro, flatbuffers, gemmlowp, ruy, "
                 "CMSIS_6 and CMSIS-NN elsewhere and run `tinyml tflm fetch --from DIR...`.")


def _safe_member(name: str) -> PurePosixPath | None:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        return None
    return p


def extract_archive(archive: Path, out: Path, prefixes: tuple[str, ...] | None = None) -> Path:
    """Extract regular files of a .tar.gz/.tar/.zip whose paths (below the
    single top directory) start with one of `prefixes`; returns the directory
    holding them. Links, devices and paths escaping the archive are skipped."""
    out.mkdir(parents=True, exist_ok=True)
    with open(archive, "rb") as fh:
        magic = fh.read(4)

    def wanted(p: PurePosixPath) -> PurePosixPath | None:
        if len(p.parts) < 2:
            return None
        inner = PurePosixPath(*p.parts[1:])
        if prefixes is not None and not str(inner).startswith(prefixes):
            return None
        return p

    tops: set[str] = set()
    try:
        if magic.startswith(b"PK"):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    p = _safe_member(info.filename)
                    if p is None:
                        continue
                    tops.add(p.parts[0])
                    if info.is_dir() or (info.external_attr >> 16) & 0o170000 == 0o120000:
                        continue
                    if wanted(p) is None:
                        continue
                    target = out / p
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        else:
            with tarfile.open(archive, "r:*") as tf:
                for member in tf:
                    p = _safe_member(member.name)
                    if p is None or member.name == "pax_global_header":
                        continue
                    tops.add(p.parts[0])
                    if not member.isfile() or wanted(p) is None:
                        continue
                    target = out / p
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tf.extractfile(member)
                    assert src is not None
                    with src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ToolError(f"{archive.name} is not a complete archive ({exc}); nothing was installed.") from exc
    tops.discard("pax_global_header")
    if len(tops) != 1:
        raise ToolError(f"{archive.name} should hold one top directory, found {len(tops)}.")
    return out / tops.pop()


# --- local git clones ---------------------------------------------------------------------

def _git(args: list[str], cwd: Path | None = None, check: bool = True) -> proc.RunResult:
    git = proc.require_tool("git", "install git (apt-get install git)")
    return proc.run([git, *args], cwd=cwd, timeout_s=600, check=check)


def _has_commit(gitdir: Path, rev: str) -> str | None:
    res = _git(["-C", str(gitdir), "rev-parse", "--verify", "-q", f"{rev}^{{commit}}"], check=False)
    return res.stdout.strip() if res.returncode == 0 and res.stdout.strip() else None


def _export_from_git(ref: str, pin: Pin | None, dirs: list[Path], staging: Path,
                     progress: ProgressSink) -> tuple[dict[str, Path], list[dict]]:
    for d in dirs:
        if not d.is_dir():
            raise ConfigError(f"--from {d}: no such directory.", path=d)
        res = _git(["-C", str(d), "rev-parse", "--git-dir"], check=False)
        if res.returncode != 0:
            raise ConfigError(f"--from {d} is not a git checkout or bare git directory.", path=d)

    def find(name: str, repo: str, rev: str) -> tuple[Path, str]:
        for d in dirs:
            commit = _has_commit(d, rev)
            if commit is not None:
                return d, commit
        raise ConfigError(
            f"none of the --from directories has {repo} at {rev} ({name}).",
            hint=f"Clone https://github.com/{repo} (with that commit) and add it to --from.")

    roots: dict[str, Path] = {}
    records = []
    progress.start("exporting from git", None)

    def export(src: SourcePin, rev: str) -> None:
        gitdir, commit = find(src.name, src.repo, rev)
        if pin is not None and commit != src.commit:
            raise ToolError(f"{gitdir}: {rev} is {commit}, pinned {src.commit}.")
        tar = staging / f"{src.name}.tar"
        paths = ["tensorflow", "signal", "LICENSE"] if src.name == "tflite-micro" else []
        _git(["-C", str(gitdir), "archive", "--format=tar", f"--prefix={src.name}-{commit}/",
              "-o", str(tar), commit, *paths])
        roots[src.name] = extract_archive(tar, staging / src.name)
        tar.unlink()
        records.append(dataclasses.asdict(src) | {"commit": commit, "git_dir": str(gitdir.resolve()),
                                                   "archive_sha256": None})
        progress.advance(1, src.name)

    if pin is not None:
        for src in pin.sources:
            export(src, src.commit)
    else:
        export(SourcePin("tflite-micro", pins_mod.TFLM_REPO, ref, archive_url(pins_mod.TFLM_REPO, ref)), ref)
        for src in _source_list(ref, None, roots["tflite-micro"]):
            export(src, src.tag or src.commit)
    return roots, records


__all__ = ["fetch", "FetchResult", "cache_root", "tflm_cache_dir", "download", "extract_archive",
           "resolve_pin"]

"""Which sources make a TFLM tree: the TFLM commit and the dependency commits
TFLM itself pins for it, plus the per-file SHA-256 manifest of the assembled
tree (shipped in pins/<ref>.json for the refs tinyml has verified).

The dependency commits are not typed in by hand: `dependency_refs` reads them
from the TFLM revision's own download scripts
(tensorflow/lite/micro/tools/make/third_party_downloads.inc and
ext_libs/cmsis_download.sh, ext_libs/cmsis_nn_download.sh), exactly the
archives TFLM's Makefile downloads for TARGET=cortex_m_generic
OPTIMIZED_KERNEL_DIR=cmsis_nn.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import ConfigError

# TFLM main of 2026-08-20 ("test(compression): run integration tests without
# compression flag (#3673)"), the newest August 2026 commit.
DEFAULT_REF = "90b983c2b3f1480642e040bbd2ddb37b998f3424"

PINS_DIR = Path(__file__).resolve().parent / "pins"

# name in the tree (third_party/<name>) -> GitHub repository.
TFLM_REPO = "tensorflow/tflite-micro"
DEPENDENCY_REPOS = {
    "flatbuffers": "google/flatbuffers",
    "gemmlowp": "google/gemmlowp",
    "ruy": "google/ruy",
    "cmsis": "ARM-software/CMSIS_6",
    "cmsis_nn": "ARM-software/CMSIS-NN",
}
SOURCE_NAMES = ("tflite-micro",) + tuple(DEPENDENCY_REPOS)

_MAKE_DIR = "tensorflow/lite/micro/tools/make"
# Where TFLM names each dependency: file, URL variable.
DEPENDENCY_SCRIPTS = {
    "flatbuffers": (f"{_MAKE_DIR}/third_party_downloads.inc", "FLATBUFFERS_URL"),
    "gemmlowp": (f"{_MAKE_DIR}/third_party_downloads.inc", "GEMMLOWP_URL"),
    "ruy": (f"{_MAKE_DIR}/third_party_downloads.inc", "RUY_URL"),
    "cmsis": (f"{_MAKE_DIR}/ext_libs/cmsis_download.sh", "CMSIS_URL"),
    "cmsis_nn": (f"{_MAKE_DIR}/ext_libs/cmsis_nn_download.sh", "CMSIS_NN_URL"),
}
FLATBUFFERS_PATCH = f"{_MAKE_DIR}/flatbuffers.patch"

# The two files tinyml adds to an assembled tree (tree.py reads them, pin_from_tree
# below too): here, in the lower module, so tree.py and pins.py do not import each other.
PROVENANCE_FILE = "tinyml-tflm.json"
MANIFEST_FILE = "tinyml-manifest.sha256"

_SHA1 = re.compile(r"^[0-9a-f]{40}$")


def archive_url(repo: str, commit: str) -> str:
    """GitHub's archive of one commit (a tarball whose single top directory is
    <name>-<commit>)."""
    return f"https://github.com/{repo}/archive/{commit}.tar.gz"


def is_commit(ref: str) -> bool:
    return bool(_SHA1.match(ref))


@dataclass(frozen=True)
class DependencyRef:
    """A dependency as TFLM's scripts name it: a commit or a tag."""
    name: str
    repo: str
    ref: str            # 40-hex commit, or a tag such as v25.9.23
    tflm_url: str       # the URL TFLM's own script downloads
    tflm_md5: str | None
    script: str         # where TFLM pins it


@dataclass(frozen=True)
class SourcePin:
    name: str           # "tflite-micro" or a third_party/<name>
    repo: str
    commit: str         # always a full commit id
    url: str            # the archive tinyml downloads
    tag: str | None = None
    archive_sha256: str | None = None   # checked when known (see the package docstring)
    tflm_url: str | None = None
    tflm_md5: str | None = None


@dataclass(frozen=True)
class Pin:
    ref: str
    sources: tuple[SourcePin, ...]
    manifest: dict[str, str] = field(default_factory=dict)   # tree path -> sha256
    description: str = ""

    def source(self, name: str) -> SourcePin:
        for src in self.sources:
            if src.name == name:
                return src
        raise KeyError(name)

    @property
    def manifest_sha256(self) -> str:
        return manifest_digest(self.manifest)

    def to_json(self) -> dict:
        return {
            "ref": self.ref,
            "description": self.description,
            "sources": [dataclasses.asdict(s) for s in self.sources],
            "manifest_sha256": self.manifest_sha256,
            "manifest": dict(sorted(self.manifest.items())),
        }

    @classmethod
    def from_json(cls, data: dict, path: Path | None = None) -> "Pin":
        try:
            sources = tuple(SourcePin(**s) for s in data["sources"])
            pin = cls(ref=data["ref"], sources=sources, manifest=dict(data.get("manifest", {})),
                      description=data.get("description", ""))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{path or 'TFLM pin'} is not a valid TFLM pin ({exc}).",
                              path=path) from exc
        recorded = data.get("manifest_sha256")
        if recorded and recorded != pin.manifest_sha256:
            raise ConfigError(f"{path or 'TFLM pin'}: manifest_sha256 does not match its manifest.",
                              path=path)
        return pin


def manifest_digest(manifest: dict[str, str]) -> str:
    """SHA-256 of the manifest in `sha256sum` format (sorted by path)."""
    return hashlib.sha256(manifest_text(manifest).encode()).hexdigest()


def manifest_text(manifest: dict[str, str]) -> str:
    return "".join(f"{digest}  {path}\n" for path, digest in sorted(manifest.items()))


def pinned_refs() -> list[str]:
    return sorted(p.stem for p in PINS_DIR.glob("*.json"))


def load_pin(ref: str) -> Pin | None:
    """The shipped pin of a TFLM commit, or None when tinyml has none for it."""
    path = PINS_DIR / f"{ref}.json"
    if not path.is_file():
        return None
    return Pin.from_json(json.loads(path.read_text()), path)


# --- reading TFLM's own download scripts ------------------------------------------------

_ASSIGN = re.compile(r"""^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)\s*:?=\s*"?([^"\s]*)"?\s*$""")
_GITHUB_ARCHIVE = re.compile(
    r"^https?://github\.com/([^/]+/[^/]+)/archive/(?:refs/tags/)?([^/]+?)\.(?:zip|tar\.gz)$")


def _expand(value: str, variables: dict[str, str]) -> str:
    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        return variables.get(name, m.group(0))
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", sub, value)


def _script_variables(text: str) -> list[tuple[str, str]]:
    """Assignments in order, each expanded with the values assigned before it
    (enough for TFLM's scripts: straight-line `VAR="value"` lines)."""
    seen: dict[str, str] = {}
    out = []
    for line in text.splitlines():
        m = _ASSIGN.match(line)
        if m:
            value = _expand(m.group(2), seen)
            seen[m.group(1)] = value
            out.append((m.group(1), value))
    return out


def dependency_refs(read_text) -> dict[str, DependencyRef]:
    """The dependencies a TFLM revision pins, read with `read_text(relpath) -> str`
    from that revision's files."""
    out = {}
    for name, (script, var) in DEPENDENCY_SCRIPTS.items():
        try:
            text = read_text(script)
        except (FileNotFoundError, KeyError) as exc:
            raise ConfigError(f"this TFLM revision has no {script}; tinyml cannot tell which "
                              f"{name} it needs.") from exc
        assigns = _script_variables(text)
        url = next((v for k, v in assigns if k == var), None)
        md5_var = var[:-len("URL")] + "MD5"
        md5 = next((v for k, v in assigns if k == md5_var), None)
        m = _GITHUB_ARCHIVE.match(url or "")
        if m is None:
            raise ConfigError(f"{script}: cannot read the {name} archive from {var}={url!r}.")
        repo, ref = m.group(1), m.group(2)
        if repo.lower() != DEPENDENCY_REPOS[name].lower():
            raise ConfigError(f"{script}: {var} names {repo}, expected {DEPENDENCY_REPOS[name]}.")
        out[name] = DependencyRef(name=name, repo=DEPENDENCY_REPOS[name], ref=ref, tflm_url=url,
                                  tflm_md5=md5, script=script)
    return out


# --- making a pin (maintainers, when moving to a new TFLM commit) ---------------------------

def pin_from_tree(tree: Path, description: str = "") -> Pin:
    """A pin from a tree assembled with `tinyml tflm fetch --from ... --ref NEW
    --allow-unverified`: its dependency commits and the SHA-256 of every file."""
    prov = json.loads((tree / PROVENANCE_FILE).read_text())
    manifest = {}
    for line in (tree / MANIFEST_FILE).read_text().splitlines():
        digest, rel = line.split("  ", 1)
        manifest[rel] = digest
    if manifest_digest(manifest) != prov["manifest_sha256"]:
        raise ConfigError(f"{tree}: the manifest does not match its provenance record.")
    sources = []
    for s in prov["sources"]:
        if not is_commit(s["commit"]):
            raise ConfigError(f"{tree}: {s['name']} is not recorded at a commit ({s['commit']}).")
        sources.append(SourcePin(name=s["name"], repo=s["repo"], commit=s["commit"],
                                 url=archive_url(s["repo"], s["commit"]), tag=s.get("tag"),
                                 tflm_url=s.get("tflm_url"), tflm_md5=s.get("tflm_md5")))
    return Pin(ref=prov["ref"], sources=tuple(sources), manifest=manifest, description=description)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tinyml.runtimes.tflm.pins",
        description="Write pins/<ref>.json from an assembled (unverified) TFLM tree.")
    parser.add_argument("tree", type=Path)
    parser.add_argument("--description", default="")
    args = parser.parse_args(argv)
    pin = pin_from_tree(args.tree, args.description)
    out = PINS_DIR / f"{pin.ref}.json"
    out.write_text(json.dumps(pin.to_json(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {out} ({len(pin.manifest)} files, manifest {pin.manifest_sha256})")


if __name__ == "__main__":
    main()

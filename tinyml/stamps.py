"""Content-hash stamps: `tinyml run` skips a stage whose inputs did not change.

A stage's key hashes the tinyml version, the stage's parameters and the
SHA-256 of every input file; the key is stored in <build>/.stamps/<name>.json
after the stage succeeded. Same key and all outputs present: skip.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

from . import __version__
from .artifacts import read_json, sha256_file, write_json


def stage_key(params: dict[str, Any], inputs: Iterable[Path] = ()) -> str:
    digest = hashlib.sha256()
    digest.update(__version__.encode())
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    for path in inputs:
        path = Path(path)
        digest.update(str(path.name).encode())
        if path.is_dir():
            for f in sorted(p for p in path.rglob("*") if p.is_file()):
                digest.update(str(f.relative_to(path)).encode())
                digest.update(sha256_file(f).encode())
        elif path.exists():
            digest.update(sha256_file(path).encode())
        else:
            digest.update(b"<missing>")
    return digest.hexdigest()


def _stamp_path(stage_dir: Path, name: str) -> Path:
    return Path(stage_dir) / f"{name.replace(' ', '-')}.json"


def up_to_date(stage_dir: Path, name: str, key: str, outputs: Iterable[Path]) -> bool:
    stamp = _stamp_path(stage_dir, name)
    if not stamp.exists() or not all(Path(o).exists() for o in outputs):
        return False
    try:
        return read_json(stamp).get("key") == key
    except Exception:
        return False


def record(stage_dir: Path, name: str, key: str) -> None:
    write_json(_stamp_path(stage_dir, name), {"key": key})

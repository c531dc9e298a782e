"""What `tinyml tflm info` reports about a tree and the cached libraries."""

from __future__ import annotations

from .library import cached_libraries, libraries_dir
from .tree import MANIFEST_FILE, TFLMTree, compare_manifest, compute_manifest


def _manifest_file(tree: TFLMTree) -> dict[str, str] | None:
    path = tree.root / MANIFEST_FILE
    if not path.is_file():
        return None
    out = {}
    for line in path.read_text().splitlines():
        digest, rel = line.split("  ", 1)
        out[rel] = digest
    return out


def tree_info(tree: TFLMTree, verify: bool = False) -> dict:
    record: dict = {"root": str(tree.root), "origin": tree.origin, "third_party": str(tree.third_party),
                    "provenance": tree.provenance, "libraries_dir": str(libraries_dir()),
                    "verify": None}
    if verify:
        expected = _manifest_file(tree)
        if expected is None:
            record["verify"] = {"ok": False, "problems": [f"no {MANIFEST_FILE} in the tree"]}
        else:
            problems = compare_manifest(compute_manifest(tree.root), expected)
            record["verify"] = {"ok": not problems, "problems": problems}
    libs = []
    for rec in cached_libraries():
        inputs = rec.get("inputs", {})
        cfg = inputs.get("config", {})
        libs.append({
            "key": rec.get("key"), "path": rec.get("path"), "tree": rec.get("tree"),
            "tree_ref": (inputs.get("tflm_ref") or "local")[:12],
            "kernels": cfg.get("kernels"), "core_flags": cfg.get("core_flags", []),
            "opt": f"{cfg.get('core_opt')}/{cfg.get('kernel_opt')}"
                   + (" strip" if cfg.get("strip_error_strings") else ""),
            "object_count": rec.get("object_count", 0), "library_bytes": rec.get("library_bytes", 0),
            "build_seconds": rec.get("build_seconds", 0.0), "compiler": inputs.get("compiler"),
        })
    record["libraries"] = libs
    return record

"""The TFLM glue's header scan (arm-none-eabi-g++ -M) on a small fake tree:
it finds exactly the tree's headers the source includes, also when the project
directory is given relative to the working directory (as `tinyml run` does)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyml.runtimes.tflm import firmware as tflm_fw
from tinyml.runtimes.tflm.library import LibraryConfig, TFLMLibrary
from tinyml.runtimes.tflm.tree import inspect_tree

pytestmark = pytest.mark.needs_toolchain

M = "tensorflow/lite/micro"


def test_header_closure_with_a_relative_project(tmp_path, monkeypatch):
    root = tmp_path / "tflm"
    headers = {
        f"{M}/micro_interpreter.h": '#include "tensorflow/lite/micro/micro_graph.h"\n',
        f"{M}/micro_graph.h": "int graph;\n",
        f"{M}/unused.h": "int unused;\n",
        "third_party/flatbuffers/include/flatbuffers/flatbuffers.h": "int fb;\n",
    }
    for rel, text in headers.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    tree = inspect_tree(root, "--tflm-dir")
    assert tree is not None
    lib = TFLMLibrary(path=root / "libtflm.a", key="k", tree=tree, reused=True, build_seconds=0,
                      object_count=0, include_dirs=tree.include_dirs(),
                      config=LibraryConfig(core_flags=("-mcpu=cortex-m4", "-mthumb")))
    work = tmp_path / "work"
    (work / "fw" / "model").mkdir(parents=True)
    (work / "fw" / "src").mkdir()
    (work / "fw" / "model" / "glue.cc").write_text(f'#include "{M}/micro_interpreter.h"\nint main() {{}}\n')
    monkeypatch.chdir(work)
    project = Path("fw")
    found = tflm_fw._header_closure(tree, lib, project / "model" / "glue.cc", project)
    assert [p.relative_to(root.resolve()).as_posix() for p in found] == [
        f"{M}/micro_graph.h", f"{M}/micro_interpreter.h"]

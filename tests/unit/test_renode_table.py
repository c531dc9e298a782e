"""The README's Renode table is bench/renode_boards.py's rendering of the committed measurement
(docs/figures/renode-boards.json), and that measurement covers every board with a Renode model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from tinyml.boards import list_boards

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("renode_boards", ROOT / "bench" / "renode_boards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_table_is_the_rendered_json():
    script = _script()
    data = json.loads(script.JSON_PATH.read_text())
    assert script.readme_block(data) in (ROOT / "README.md").read_text(), \
        "README.md's Renode table is stale: run bench/renode_boards.py --render-only"


def test_the_measurement_covers_every_renode_board_bit_exact():
    data = json.loads(_script().JSON_PATH.read_text())
    boards = {b.name: b for b in list_boards() if b.emulators.renode is not None}
    assert sorted(r["board"] for r in data["rows"]) == sorted(boards)
    for r in data["rows"]:
        assert r["platform"] == boards[r["board"]].emulators.renode.platform
        assert r["renode_agreement"]["matching"] == r["renode_agreement"]["total"] == 2
        assert r["qemu_agreement"]["matching"] == 2
        # both count executed instructions of the same code on the same core
        assert abs(r["renode_dwt_cycles"] - r["qemu_instructions"]) < 0.01 * r["qemu_instructions"]

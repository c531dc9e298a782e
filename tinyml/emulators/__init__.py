"""Emulators that run firmware: qemu, renode.

The registry is here, above the runners: base.py defines what a runner is,
qemu.py and renode.py implement it, and get_runner() picks one by name, so
base.py imports neither runner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ToolError

if TYPE_CHECKING:
    from .base import Runner

EMULATORS = ("qemu", "renode")


def get_runner(name: str) -> "Runner":
    if name == "qemu":
        from .qemu import QemuRunner

        return QemuRunner()
    if name == "renode":
        from .renode import RenodeRunner     # lazy: it imports tinyml.renode (templates, yaml)

        return RenodeRunner()
    raise ToolError(f"unknown emulator {name!r}; available: {', '.join(sorted(EMULATORS))}.")

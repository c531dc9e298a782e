"""One exception hierarchy for every stage.

Stages raise these; only the CLI turns them into a message and an exit code.
Each error carries the one sentence a user needs (naming the file, field,
operator or board) plus optional context the CLI can print below it.
"""

from __future__ import annotations

from pathlib import Path


class TinyMLError(Exception):
    """Base class: `message` is one clear sentence; `hint` says what to do."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | Path | None = None,
                 hint: str | None = None, log_path: str | Path | None = None):
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None
        self.hint = hint
        self.log_path = Path(log_path) if log_path is not None else None

    def __str__(self) -> str:
        return self.message


class ConfigError(TinyMLError):
    """A project file, option or environment variable is wrong."""


class ModelError(TinyMLError):
    """A model file is missing, corrupt, or not what the stage needs."""


class DatasetError(TinyMLError):
    """A dataset is missing, malformed, or does not match the model."""


class BoardError(TinyMLError):
    """A board file is invalid or a board name is unknown."""


class UnsupportedOperatorError(ModelError):
    """A runtime cannot run an operator of the model."""


class ToolError(TinyMLError):
    """An external tool (compiler, emulator, probe) is missing or failed."""


class EmulatorError(ToolError):
    """The emulated firmware hung, crashed or broke the harness protocol."""


class ThresholdError(TinyMLError):
    """A result is valid but misses a threshold the user set (CI gate)."""

    exit_code = 1

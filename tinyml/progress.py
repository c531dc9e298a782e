"""Progress for long steps, on stderr so --json output on stdout stays clean.

Stages accept an optional `Progress`-like callback object; the CLI passes a
rich progress bar, tests pass nothing.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Protocol


class ProgressSink(Protocol):
    def start(self, description: str, total: int | None) -> None: ...
    def advance(self, steps: int = 1, info: str = "") -> None: ...
    def finish(self) -> None: ...


class NullProgress:
    def start(self, description: str, total: int | None) -> None:
        pass

    def advance(self, steps: int = 1, info: str = "") -> None:
        pass

    def finish(self) -> None:
        pass


class RichProgress:
    """One bar per step, each with a description and an info column."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("{task.fields[info]}"),
            console=Console(stderr=True), transient=False)
        self._task = None

    def start(self, description: str, total: int | None) -> None:
        if self._task is None:
            self._progress.start()
        else:
            self._progress.stop_task(self._task)
        self._task = self._progress.add_task(description, total=total, info="")

    def advance(self, steps: int = 1, info: str = "") -> None:
        if self._task is not None:
            self._progress.update(self._task, advance=steps, info=info)

    def finish(self) -> None:
        if self._task is not None:
            self._progress.stop()
            self._task = None


@contextlib.contextmanager
def cli_progress(enabled: bool = True) -> Iterator[ProgressSink]:
    sink: ProgressSink = RichProgress() if enabled else NullProgress()
    try:
        yield sink
    finally:
        sink.finish()


def keras_callback(sink: ProgressSink, description: str, epochs: int, metric: str = "accuracy"):
    """A tf-keras callback that advances `sink` once per epoch."""
    from .tfcompat import keras

    class _EpochProgress(keras().callbacks.Callback):
        def on_train_begin(self, logs=None):
            sink.start(description, epochs)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            parts = [f"loss {logs['loss']:.4f}"] if "loss" in logs else []
            if metric in logs:
                parts.append(f"{metric} {logs[metric]:.3f}")
            if f"val_{metric}" in logs:
                parts.append(f"val {logs[f'val_{metric}']:.3f}")
            sink.advance(1, ", ".join(parts))

    return _EpochProgress()

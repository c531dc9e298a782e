"""Warnings a user should not miss: an optimization that cost accuracy.

Read from the artifacts (model/, optimize/, quantize/ metrics.json), so the
prune and quantize commands, `tinyml run` (a skipped stage included) and the
report all say the same thing. Each warning names the option that would help.
"""

from __future__ import annotations

import json
from pathlib import Path

MAX_ACCURACY_DROP_POINTS = 2.0     # percentage points of held-out accuracy


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _accuracy(metrics: dict | None) -> float | None:
    value = (metrics or {}).get("accuracy")
    return float(value) if isinstance(value, (int, float)) else None


def prune_warning(metrics: dict, limit_points: float = MAX_ACCURACY_DROP_POINTS) -> str | None:
    """One sentence when pruning cost more than `limit_points` of held-out accuracy (optimize/metrics.json)."""
    before, after = _accuracy(metrics.get("before")), _accuracy(metrics.get("after"))
    if before is None or after is None or (before - after) * 100 <= limit_points:
        return None
    epochs = metrics.get("fine_tune_epochs")
    if metrics.get("structured_2_4"):
        helps = (f"fine-tune longer (--fine-tune-epochs, optimize.prune.fine_tune_epochs in tinyml.yaml; now "
                 f"{epochs}) or prune without --structured-2-4 at a lower --sparsity")
    else:
        helps = (f"fine-tune longer (--fine-tune-epochs, optimize.prune.fine_tune_epochs in tinyml.yaml; now "
                 f"{epochs}) or prune less (--sparsity, optimize.prune.sparsity; now {metrics.get('target_sparsity')})")
    return (f"pruning cost {(before - after) * 100:.1f} points of held-out accuracy ({before:.1%} -> {after:.1%}), "
            f"more than {limit_points:g}: {helps}.")


def quantize_warning(metrics: dict, limit_points: float = MAX_ACCURACY_DROP_POINTS) -> str | None:
    """One sentence when int8 quantization cost more than `limit_points` against the float model it came from."""
    before = _accuracy(metrics.get("keras"))
    after = _accuracy(metrics.get("int8_tflm"))
    if before is None or after is None or (before - after) * 100 <= limit_points:
        return None
    return (f"int8 quantization cost {(before - after) * 100:.1f} points of held-out accuracy "
            f"({before:.1%} float -> {after:.1%} int8), more than {limit_points:g}: give the converter more "
            f"representative samples (--representative-samples, quantize.representative_samples in tinyml.yaml; "
            f"now {metrics.get('representative_samples')}), or prune less before quantizing.")


def accuracy_warnings(build_dir: str | Path) -> list[str]:
    """Every optimization in the build directory that cost more than the limit, in pipeline order."""
    build = Path(build_dir)
    warnings = []
    pruned = _read(build / "optimize" / "metrics.json")
    if pruned is not None and (w := prune_warning(pruned)):
        warnings.append(w)
    quantized = _read(build / "quantize" / "metrics.json")
    if quantized is not None and (w := quantize_warning(quantized)):
        warnings.append(w)
    return warnings

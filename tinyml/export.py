"""`tinyml export`: the int8 model as a C array (model_data.h / model_data.c).

The array is `const` (so the linker keeps it in flash) and 16-byte aligned
(TFLM reads tensors in place). The header comment names the source file (by
file name only, so the output does not depend on where the model lives), its
SHA-256, and the input/output shapes and quantization. The same model and name
always give the same bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .artifacts import atomic_write_text
from .ctemplates import c_identifier, render
from .errors import ConfigError, ModelError

HEADER_NAME = "model_data.h"
SOURCE_NAME = "model_data.c"


@dataclass(frozen=True)
class ExportResult:
    header: Path
    source: Path
    identifier: str
    size_bytes: int
    sha256: str


def _quant(t) -> str:
    if t.scale.size == 0:
        return ", not quantized"
    if t.scale.size > 1:
        return f", per-channel ({t.scale.size} scales, axis {t.quantized_dimension})"
    return f", scale {float(t.scale[0])!r}, zero_point {int(t.zero_point[0])}"


def _describe(tensors) -> list[dict]:
    return [{"name": t.name, "dtype": t.dtype, "shape": "[" + ", ".join(str(d) for d in t.shape) + "]",
             "quant": _quant(t)} for t in tensors]


def render_model_data(model_path: str | Path, identifier: str | None = None) -> tuple[str, dict[str, str]]:
    """(identifier, {file name: text}) for a model; nothing is written."""
    from .tflite_model import load_model

    model_path = Path(model_path)
    model = load_model(model_path)  # validates the flatbuffer; raises ModelError
    data = model_path.read_bytes()
    ident = c_identifier(identifier if identifier is not None else model_path.stem)
    context = {
        "source_name": model_path.name,
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "inputs": _describe(model.input_tensors),
        "outputs": _describe(model.output_tensors),
        "ident": ident,
        "guard": f"{ident.upper()}_MODEL_DATA_H",
        "header_name": HEADER_NAME,
        "data": data,
    }
    return ident, {HEADER_NAME: render("common/model_data.h.j2", **context),
                   SOURCE_NAME: render("common/model_data.c.j2", **context)}


def export_c_array(model_path: str | Path, out_dir: str | Path = ".", *, name: str | None = None,
                   force: bool = False) -> ExportResult:
    """Write model_data.h/.c into out_dir.

    An existing file with different content is a user's file: it is replaced
    only with force=True (an identical file is left as it is).
    """
    model_path, out_dir = Path(model_path), Path(out_dir)
    if not model_path.is_file():
        raise ModelError(f"{model_path} does not exist.", path=model_path)
    ident, files = render_model_data(model_path, name)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir} exists and is not a directory.", path=out_dir)
    for fname, text in files.items():
        dest = out_dir / fname
        if dest.exists() and not force and dest.read_bytes() != text.encode("utf-8"):
            raise ConfigError(f"{dest} already exists with other content; pass --force to replace it.",
                              path=dest)
    for fname, text in files.items():
        atomic_write_text(out_dir / fname, text)
    data = model_path.read_bytes()
    return ExportResult(out_dir / HEADER_NAME, out_dir / SOURCE_NAME, ident, len(data),
                        hashlib.sha256(data).hexdigest())

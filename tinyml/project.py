"""The project file, tinyml.yaml: what `tinyml run` does, schema-validated.

Example (examples/digits/tinyml.yaml):

    name: digits
    seed: 0
    model: {zoo: digits_cnn, epochs: 30}
    dataset: {kind: digits}
    optimize: {prune: {sparsity: 0.5, fine_tune_epochs: 3}}
    boards: [mps2-an386, microbit, nucleo-l4r5zi]
    emulate: {boards: [mps2-an386, microbit], samples: 100}
    runtime: auto
    thresholds: {min_device_accuracy: 0.95, min_agreement: 1.0, max_latency_ms: 50}

Paths in the file are relative to the file's directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSection(_Strict):
    zoo: str | None = None
    file: str | None = None                     # import instead of training
    width: float | None = Field(default=None, gt=0)
    epochs: int = Field(default=30, ge=1)
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.zoo is None) == (self.file is None):
            raise ValueError("give exactly one of 'zoo' (train a zoo model) or 'file' (import a model)")
        return self


class DatasetSection(_Strict):
    kind: Literal["digits", "npz", "csv", "images", "fashion_mnist", "gestures", "kws_espeak"] = "digits"
    path: str | None = None
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    label_column: str | None = None
    image_size: tuple[int, int] | None = None
    grayscale: bool = False
    options: dict = Field(default_factory=dict)


class PruneSection(_Strict):
    sparsity: float = Field(default=0.5, gt=0, lt=1)
    schedule: Literal["polynomial", "constant"] = "polynomial"
    fine_tune_epochs: int = Field(default=2, ge=1)
    structured_2_4: bool = False


class OptimizeSection(_Strict):
    prune: PruneSection | None = None


class QuantizeSection(_Strict):
    representative_samples: int = Field(default=200, ge=1)


class EmulateSection(_Strict):
    boards: list[str] = Field(default_factory=list)
    emulator: Literal["qemu", "renode"] = "qemu"
    samples: int = Field(default=50, ge=1)
    timeout_s: float = Field(default=300, gt=0)
    # aot: also measure every operator, in a firmware of its own (emulate/<board>-<emulator>-layers.json)
    per_layer: bool = True


class Thresholds(_Strict):
    min_device_accuracy: float | None = Field(default=None, ge=0, le=1)
    min_agreement: float | None = Field(default=None, ge=0, le=1)
    max_latency_ms: float | None = Field(default=None, gt=0)
    min_flash_headroom_percent: float | None = Field(default=None, ge=0, le=100)
    min_ram_headroom_percent: float | None = Field(default=None, ge=0, le=100)


class Project(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = 0
    build_dir: str | None = None
    model: ModelSection
    dataset: DatasetSection | None = None
    optimize: OptimizeSection = Field(default_factory=OptimizeSection)
    quantize: QuantizeSection = Field(default_factory=QuantizeSection)
    boards: list[str] = Field(default_factory=list)
    runtime: Literal["auto", "aot", "tflm"] = "auto"
    emulate: EmulateSection = Field(default_factory=EmulateSection)
    thresholds: Thresholds = Field(default_factory=Thresholds)

    # set by load_project, not by the file
    source: Path | None = Field(default=None, exclude=True)

    def path(self, value: str) -> Path:
        """A path from the file, relative to the file's directory."""
        p = Path(value)
        return p if p.is_absolute() or self.source is None else self.source.parent / p

    @property
    def build_path(self) -> Path:
        return self.path(self.build_dir) if self.build_dir else Path("build") / self.name


def _describe(err: dict) -> str:
    loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"field {loc}: unknown field"
    if err["type"] == "missing":
        return f"field {loc}: required but missing"
    return f"field {loc}: {err['msg']}"


def load_project(path: str | Path) -> Project:
    import yaml

    path = Path(path)
    if path.is_dir():
        path = path / "tinyml.yaml"
    if not path.is_file():
        raise ConfigError(f"{path}: no such project file.", path=path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path} is not valid YAML{where}.", path=path) from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must be a mapping of fields (name, model, dataset, ...).", path=path)
    try:
        project = Project.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{path}: {_describe(first)}{more}.", path=path) from exc
    project.source = path.resolve()
    return project

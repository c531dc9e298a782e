"""Markers that need a tool skip with the reason when it is absent, unless
TINYML_REQUIRE names it (`make test` sets toolchain,qemu; CI adds models,
the ../shared/models folder): then the absence fails."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
if not SHARED_MODELS.is_dir():
    SHARED_MODELS = Path(os.environ.get("TINYML_SHARED_MODELS", "../shared/models")).resolve()

MLPERF_MODELS = ["ad01_int8", "kws_ref_model", "vww_96_int8", "pretrainedResnet_quant"]


def _tflm_tree() -> str | None:
    env = os.environ.get("TINYML_TFLM_DIR")
    if env and Path(env).is_dir():
        return env
    try:
        from tinyml.runtimes import tflm  # noqa: F401  (present once the tflm runtime lands)
        return tflm.locate_tree(None)  # type: ignore[attr-defined]
    except Exception:
        return None


def _renode_status() -> tuple[bool, str]:
    """Renode found (TINYML_RENODE_DIR or PATH) with mono and renode-test's packages: what the runner checks."""
    from tinyml.emulators.renode import missing_piece

    problem = missing_piece()
    return problem is None, f"Renode cannot run here: {problem} (see README: Renode)"


def _requirements() -> dict[str, tuple[bool, str]]:
    return {
        "needs_toolchain": (shutil.which("arm-none-eabi-gcc") is not None and shutil.which("gcc") is not None,
                            "arm-none-eabi-gcc or host gcc not installed (make setup installs them)"),
        "needs_qemu": (shutil.which("qemu-system-arm") is not None,
                       "qemu-system-arm not installed (make setup installs it)"),
        "needs_renode": _renode_status(),
        "needs_tflm": (_tflm_tree() is not None,
                       "no TFLite Micro tree (set TINYML_TFLM_DIR or run `tinyml tflm fetch`)"),
    }


_REQUIRE_NAMES = {"toolchain": "needs_toolchain", "qemu": "needs_qemu",
                  "renode": "needs_renode", "tflm": "needs_tflm"}


_STATUS: dict[str, tuple[bool, str]] | None = None


def pytest_runtest_setup(item):
    global _STATUS
    if _STATUS is None:
        _STATUS = _requirements()
    required = {_REQUIRE_NAMES[n.strip()] for n in os.environ.get("TINYML_REQUIRE", "").split(",")
                if n.strip() in _REQUIRE_NAMES}
    for marker, (available, reason) in _STATUS.items():
        if item.get_closest_marker(marker) is not None and not available:
            if marker in required:
                pytest.fail(f"TINYML_REQUIRE names it, but {reason}", pytrace=False)
            pytest.skip(reason)


@pytest.fixture(autouse=True)
def _tflm_tree_only_where_needed(request, monkeypatch):
    """CI sets TINYML_TFLM_DIR for the needs_tflm tests. Everywhere else `--runtime auto`
    (the CLI default) must keep choosing what it chooses without a tree (aot), or every
    CLI test on another core would build that core's TFLM library (~8 min each)."""
    if request.node.get_closest_marker("needs_tflm") is None:
        monkeypatch.delenv("TINYML_TFLM_DIR", raising=False)


@pytest.fixture(scope="session")
def shared_models() -> Path:
    if not SHARED_MODELS.is_dir():
        reason = (f"the MLPerf Tiny reference models are not at {SHARED_MODELS} "
                  "(set TINYML_SHARED_MODELS to their folder)")
        if "models" in os.environ.get("TINYML_REQUIRE", "").split(","):
            pytest.fail(f"TINYML_REQUIRE names them, but {reason}", pytrace=False)
        pytest.skip(reason)
    return SHARED_MODELS

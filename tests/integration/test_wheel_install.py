"""The wheel, installed outside the checkout, finds its boards, templates and Renode scripts.

A user runs `pip install tinyml` (not editable): boards/, firmware_templates/ and
renode/ must come from the package data. The test builds the wheel from a copy of
the sources (so nothing is written into the checkout), installs it with
`--no-deps` into a fresh venv made from the base interpreter, and lets that venv
see the dependencies already installed in the project's venv through a .pth
line. A path line in a .pth file is appended to sys.path *after* the venv's own
site-packages and the .pth files inside it are not executed, so the project's
editable-install finder never runs and the wheel's copy of tinyml is the one
imported (asserted through tinyml.__file__). Every command then runs from a
working directory outside the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tiny_models import make_tiny_cnn

pytestmark = [pytest.mark.needs_toolchain, pytest.mark.needs_qemu, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("pyproject.toml", "README.md", "tinyml", "boards", "firmware_templates", "renode")


def _run(argv, cwd, env, timeout=600):
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    return proc


def _ok(proc):
    assert proc.returncode == 0, f"{proc.args}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in SHIPPED:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    dist = root / "dist"
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, src], cwd=root,
             env=dict(os.environ)))
    wheels = list(dist.glob("tinyml-*.whl"))
    assert len(wheels) == 1, wheels

    venv = root / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    _ok(_run([base_python, "-m", "venv", "--without-pip", venv], cwd=root, env=dict(os.environ)))
    python = venv / "bin" / "python"
    _ok(_run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--quiet",
              wheels[0]], cwd=root, env=dict(os.environ)))
    site = Path(_ok(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         cwd=root, env=dict(os.environ))).stdout.strip())
    (site / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "TINYML_BOARDS_DIR", "TINYML_BUILD_DIR", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    work = root / "work"
    work.mkdir()
    return venv, env, work


def test_installed_wheel_runs_the_pipeline_outside_the_checkout(wheel_venv, tmp_path):
    venv, env, work = wheel_venv
    python, tinyml = venv / "bin" / "python", venv / "bin" / "tinyml"

    where = _ok(_run([python, "-c", "import tinyml, tinyml.resources as r; print(tinyml.__file__); "
                      "print(r.data_dir('boards')); print(r.data_dir('firmware_templates'))"], work, env))
    module_file, boards_dir, templates_dir = where.stdout.split()
    assert Path(module_file).is_relative_to(venv), module_file          # the wheel's copy, not the checkout
    assert Path(boards_dir).is_dir() and Path(boards_dir).is_relative_to(venv)
    assert Path(templates_dir).is_dir() and Path(templates_dir).is_relative_to(venv)
    assert not Path(module_file).is_relative_to(REPO)

    listed = json.loads(_ok(_run([tinyml, "boards", "list", "--json"], work, env)).stdout)
    board_files = [p for p in (REPO / "boards").glob("*.yaml") if p.name not in ("cores.yaml", "qemu-machines.yaml")]
    assert len(listed) == len(board_files) > 0
    assert {b["name"] for b in listed} == {p.stem for p in board_files}
    assert all(Path(b["source_path"]).is_relative_to(venv) for b in listed)

    model = make_tiny_cnn(work / "tiny.tflite")
    build = work / "build"
    board = ["--board", "mps2-an386"]

    check = _ok(_run([tinyml, "check", model, *board, "--runtime", "aot", "-B", build, "--json"], work, env))
    fit = json.loads(check.stdout)
    assert fit["fits"] is True
    assert "measure_footprint" not in check.stdout + check.stderr      # no developer advice for users
    assert (build / "check" / "mps2-an386-aot.json").is_file()

    _ok(_run([tinyml, "firmware", *board, "--runtime", "aot", "--model", model, "-B", build], work, env))
    project = build / "firmware" / "mps2-an386-aot"
    assert (project / "Makefile").is_file()
    _ok(_run([tinyml, "build", *board, "--runtime", "aot", "-B", build], work, env))
    assert (project / "build" / "firmware.elf").is_file()

    emulated = _ok(_run([tinyml, "emulate", model, *board, "--runtime", "aot", "--samples", "3", "-B", build,
                         "--json"], work, env))
    record = json.loads(emulated.stdout)
    assert record["agreement"]["ratio"] == 1.0 and record["agreement"]["matching"] == 3
    assert len(record["samples"]) == 3

    verified = _ok(_run([tinyml, "verify", model, "--runtime", "aot", "-n", "5", "-B", build, "--json"], work, env))
    tflm_agreement = next(a for a in json.loads(verified.stdout)["agreements"] if a["reference"] == "tflite-micro")
    assert tflm_agreement["mismatched_bytes"] == 0 and tflm_agreement["identical_samples"] == 5

    # The renode scripts are package data too (rendering needs no Renode install).
    _ok(_run([python, "-c", "from tinyml.renode import shipped_platforms; assert shipped_platforms()"], work, env))

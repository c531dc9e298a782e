"""`tinyml verify --sanitize`: the generated C of the four MLPerf Tiny models runs clean under
AddressSanitizer and UBSan on the host, and a write past the arena is caught and said in one
sentence (the detection path, with a deliberately broken model.c)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinyml.cli import main
from tinyml.errors import ToolError

pytestmark = [pytest.mark.needs_toolchain, pytest.mark.slow]


@pytest.mark.parametrize("model", ["ad01_int8", "kws_ref_model", "vww_96_int8", "pretrainedResnet_quant"])
def test_shared_models_run_clean_under_the_sanitizers(shared_models, tmp_path, capsys, model):
    with pytest.raises(SystemExit) as done:
        main(["verify", str(shared_models / f"{model}.tflite"), "--sanitize", "-n", "2", "-B", str(tmp_path),
              "--json"])
    out = capsys.readouterr()
    assert done.value.code == 0, out.err
    assert json.loads(out.out)["agreements"][0]["identical_samples"] == 2


def test_a_write_past_the_arena_is_reported(shared_models, tmp_path):
    from tinyml.runtimes.aot import generate
    from tinyml.runtimes.aot.host import build_runner, run_runner

    project = generate(shared_models / "ad01_int8.tflite", tmp_path / "project", source_name="ad01_int8.tflite")
    model_c = tmp_path / "project" / "model.c"
    text = model_c.read_text()
    anchor = "    /* operator 0: FULLY_CONNECTED"
    assert anchor in text
    past = "    { volatile int past = TINYML_ARENA_BYTES + 8; tinyml_arena[past] = 1; }\n"   # not seen by gcc
    model_c.write_text(text.replace(anchor, past + anchor, 1))
    exe = build_runner(project, tmp_path / "runner", log_path=tmp_path / "build.log", per_layer=False,
                       sanitize=True)
    inputs = np.zeros((1, project.input.size_bytes), np.uint8)
    with pytest.raises(ToolError, match=r"^the generated C misbehaved under the sanitizers: (ERROR: AddressSanitizer: "
                                        r"global-buffer-overflow|.*runtime error: index \d+ out of bounds)"):
        run_runner(exe, inputs, tmp_path, output_bytes=project.output.size_bytes, log_path=tmp_path / "run.log",
                   sanitize=True)

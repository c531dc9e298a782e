"""Accuracy guardrails: a warning when an optimization costs more than 2 points, naming the option."""

import json

from tinyml.guardrails import accuracy_warnings, prune_warning, quantize_warning


def _prune_metrics(before, after, **kw):
    return {"before": {"accuracy": before}, "after": {"accuracy": after}, "fine_tune_epochs": 3,
            "target_sparsity": 0.5, "structured_2_4": False, **kw}


def test_pruning_that_costs_more_than_two_points_names_the_options():
    w = prune_warning(_prune_metrics(0.817, 0.45))
    assert w.startswith("pruning cost 36.7 points of held-out accuracy (81.7% -> 45.0%)")
    assert "--fine-tune-epochs" in w and "now 3" in w and "--sparsity" in w and "now 0.5" in w
    assert prune_warning(_prune_metrics(0.90, 0.881)) is None          # 1.9 points: no warning
    assert prune_warning(_prune_metrics(0.90, 0.95)) is None           # better after fine-tuning
    two_four = prune_warning(_prune_metrics(0.9, 0.8, structured_2_4=True))
    assert "--structured-2-4" in two_four
    # an autoencoder has no accuracy: nothing to compare
    assert prune_warning({"before": {"reconstruction_mse": 0.1}, "after": {"reconstruction_mse": 0.5}}) is None


def test_quantization_that_costs_more_than_two_points_names_the_option():
    m = {"keras": {"accuracy": 0.95}, "int8_tflm": {"accuracy": 0.90}, "representative_samples": 20}
    w = quantize_warning(m)
    assert "5.0 points" in w and "--representative-samples" in w and "now 20" in w
    assert quantize_warning({**m, "int8_tflm": {"accuracy": 0.94}}) is None


def test_accuracy_warnings_read_the_build_directory(tmp_path):
    assert accuracy_warnings(tmp_path) == []
    (tmp_path / "optimize").mkdir()
    (tmp_path / "optimize" / "metrics.json").write_text(json.dumps(_prune_metrics(0.9, 0.8)))
    (tmp_path / "quantize").mkdir()
    (tmp_path / "quantize" / "metrics.json").write_text(json.dumps(
        {"keras": {"accuracy": 0.8}, "int8_tflm": {"accuracy": 0.7}, "representative_samples": 200}))
    warnings = accuracy_warnings(tmp_path)
    assert [w.split(" cost")[0] for w in warnings] == ["pruning", "int8 quantization"]

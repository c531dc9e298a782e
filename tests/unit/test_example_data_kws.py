"""Keyword spotting on espeak-ng speech: the plan (voices, balance), the MFCC
front end against an independent numpy/scipy computation, synthesis on a tiny
option set (seconds), the cache, and the errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tinyml import example_data
from tinyml.data import DatasetSpec, load_dataset
from tinyml.errors import DatasetError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (make setup installs it)")

TINY = {"words": ["yes", "no"], "unknown_words": ["cat", "dog"], "voices": ["en-us+m1", "en+f2"],
        "takes": 2, "copies": 2, "cache": False}


def test_default_plan_holds_out_whole_variants_and_is_balanced():
    plan = example_data._kws_plan(DatasetSpec(kind="kws_espeak"), None)
    assert len(plan.voices) == 8 * 12
    # test_fraction 0.2 of 12 variants -> 2 variants spread over the sorted names
    assert {v.partition("+")[2] for v in plan.test_voices} == {"f4", "m5"} and len(plan.test_voices) == 16
    train_variants = {v.partition("+")[2] for v in plan.voices if v not in plan.test_voices}
    assert not train_variants & {"f4", "m5"}
    # one synthesis per keyword and one unknown word per (voice, take); silence is noise only
    assert len(plan.utterances) == 96 * 3 * 11
    labels = np.array([c[0] for c in plan.clips])
    assert np.bincount(labels).tolist() == [96 * 3 * 2] * 12
    unknown = [plan.utterances[u][1] for label, u, _ in plan.clips if label == 11]
    assert set(unknown) <= set(example_data._KWS_DEFAULTS["unknown_words"]) and len(set(unknown)) > 10
    assert all(u == -1 for label, u, _ in plan.clips if label == 10)


def test_plan_options_are_checked():
    def plan(**opts):
        return example_data._kws_plan(DatasetSpec(kind="kws_espeak", options=opts), None)

    with pytest.raises(DatasetError, match="both a keyword and an unknown word"):
        plan(words=["yes", "cat"], unknown_words=["cat"])
    with pytest.raises(DatasetError, match="'words' must be a non-empty list of words"):
        plan(words=["-v"])
    with pytest.raises(DatasetError, match="quote yes, no, on and off"):
        plan(words=[True, False, "up"])        # what YAML makes of [yes, no, up]
    with pytest.raises(DatasetError, match="not in voices"):
        plan(voices=["en-us+m1", "en+f2"], test_voices=["en+m3"])
    with pytest.raises(DatasetError, match="speed_wpm"):
        plan(speed_wpm=[200, 100])
    with pytest.raises(DatasetError, match="no option 'word'"):
        plan(word=["yes"])
    assert plan(voices=["en-us+m1", "en+f2"]).test_voices == ["en-us+m1"]


def _reference_mfcc(clip: np.ndarray, mel: np.ndarray) -> np.ndarray:
    """MLPerf Tiny's front end written out with numpy and scipy."""
    from scipy.fft import dct

    n = np.arange(480)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / 480)        # periodic Hann, as tf.signal.hann_window
    frames = np.stack([clip[i * 320:i * 320 + 480] * hann for i in range(49)])
    magnitude = np.abs(np.fft.rfft(frames, 512))             # 257 bins
    log_mel = np.log(magnitude @ mel + 1e-6)
    return dct(log_mel, type=2, axis=-1)[:, :10] / np.sqrt(2 * 40)


def test_mfcc_front_end_matches_an_independent_computation():
    from tinyml.tfcompat import tf

    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    clips = np.stack([0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(16000),
                      0.05 * rng.standard_normal(16000)]).astype(np.float32)
    feats = example_data.kws_features(clips)
    assert feats.shape == (2, 49, 10, 1) and feats.dtype == np.float32
    mel = tf().signal.linear_to_mel_weight_matrix(40, 257, 16000, 20.0, 4000.0).numpy().astype(np.float64)
    for clip, got in zip(clips, feats):
        np.testing.assert_allclose(got[..., 0], _reference_mfcc(clip.astype(np.float64), mel),
                                   rtol=1e-3, atol=2e-3)
    assert example_data.kws_features(clips, "log_mel").shape == (2, 49, 40, 1)


def test_colored_noise_spectrum():
    rng = np.random.default_rng(0)
    for exponent in (0.0, 1.0, 2.0):
        x = example_data.colored_noise(16000, exponent, rng)
        assert np.sqrt(np.mean(x ** 2)) == pytest.approx(1.0)
        power = np.abs(np.fft.rfft(x)) ** 2
        f = np.arange(len(power), dtype=np.float64)
        low, high = slice(10, 100), slice(1000, 8000)
        # white: flat; pink: power ~ 1/f; brown: ~ 1/f^2
        expected = np.mean(f[low] ** -exponent) / np.mean(f[high] ** -exponent)
        assert np.log10(power[low].mean() / power[high].mean()) == pytest.approx(np.log10(expected), abs=0.2)


@needs_espeak
@pytest.mark.slow
def test_tiny_synthesis_is_balanced_voice_disjoint_and_deterministic():
    spec = DatasetSpec(kind="kws_espeak", seed=3, options=TINY)
    d, v_tr, v_te = example_data.kws_split(spec)
    assert d.class_names == ["yes", "no", "silence", "unknown"]
    # one voice each side: 2 takes x 4 classes x 2 copies = 16 clips
    assert d.x_train.shape == (16, 49, 10, 1) and d.x_test.shape == (16, 49, 10, 1)
    assert np.bincount(d.y_train).tolist() == [4] * 4 and np.bincount(d.y_test).tolist() == [4] * 4
    assert set(v_tr.tolist()) == {"en+f2"} and set(v_te.tolist()) == {"en-us+m1"}
    again = load_dataset(spec)
    np.testing.assert_array_equal(d.x_train, again.x_train)
    np.testing.assert_array_equal(d.x_test, again.x_test)
    other = load_dataset(DatasetSpec(kind="kws_espeak", seed=4, options=TINY))
    assert not np.array_equal(d.x_train, other.x_train)
    # speech has more energy than silence (first MFCC ~ log energy)
    c0 = d.x_train[..., 0, 0].max(axis=1)
    assert c0[d.y_train == 0].min() > c0[d.y_train == 2].max()


@needs_espeak
@pytest.mark.slow
def test_cache_is_written_and_reused(tmp_path, monkeypatch):
    spec = DatasetSpec(kind="kws_espeak", options={**TINY, "takes": 1, "cache": True, "cache_dir": str(tmp_path)})
    path = example_data.kws_cache_path(spec)
    assert path.parent == tmp_path and not path.exists()
    calls = []

    class Sink:
        def start(self, description, total):
            calls.append(("start", total))

        def advance(self, steps=1, info=""):
            calls.append(("advance", info))

        def finish(self):
            pass

    first = example_data.load_kws_espeak(spec, progress=Sink())
    assert path.is_file() and calls[0] == ("start", 6) and len(calls) == 7

    def no_synthesis(*args):
        raise AssertionError("synthesized again despite the cache")

    monkeypatch.setattr(example_data, "_synthesize", no_synthesis)
    cached = example_data.load_kws_espeak(spec)
    np.testing.assert_array_equal(first.x_train, cached.x_train)
    np.testing.assert_array_equal(first.y_test, cached.y_test)
    other = DatasetSpec(kind="kws_espeak", options={**spec.options, "takes": 2})
    assert example_data.kws_cache_path(other) != path
    # the cache location is not part of the key
    moved = DatasetSpec(kind="kws_espeak", options={**spec.options, "cache_dir": str(tmp_path / "x")})
    assert example_data.kws_cache_path(moved).name == path.name


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path))
    path = example_data.kws_cache_path(DatasetSpec(kind="kws_espeak", options=TINY | {"cache": True}))
    assert path.parent == tmp_path / "kws_espeak" and path.suffix == ".npz"
    assert example_data.kws_cache_path(DatasetSpec(kind="kws_espeak", options=TINY)) is None


def test_missing_espeak_names_the_package(monkeypatch):
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "espeak-ng" else real(name, *a, **k))
    with pytest.raises(DatasetError) as err:
        load_dataset(DatasetSpec(kind="kws_espeak", options=TINY))
    assert "espeak-ng" in err.value.message and "apt-get install espeak-ng" in err.value.hint


@needs_espeak
def test_unknown_voice_is_an_error():
    with pytest.raises(DatasetError, match="no voice 'en-us\\+nosuch'"):
        load_dataset(DatasetSpec(kind="kws_espeak", options={**TINY, "voices": ["en-us+nosuch", "en+f2"]}))

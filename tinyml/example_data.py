"""The example datasets: real data available offline, each with its own held-out split.

`tinyml.data.load_dataset` dispatches the kinds below to `load_<kind>(spec)`.
`spec.options` carries the kind-specific options listed here; an unknown
option is an error naming it. `spec.seed` makes every random choice
reproducible; the held-out split itself never depends on the seed, so
accuracies measured with different seeds are on the same test samples. Held-out
samples come in a fixed mixed order (not recording by recording or voice by
voice), so the first N of them, which emulation bakes into the firmware, are a
fair sample.

fashion_mnist
    Fashion-MNIST (Zalando, 28x28 grey images, 10 classes) from Debian's
    `dataset-fashion-mnist` package: the four IDX files in
    /usr/share/datasets/fashion-mnist (spec.path overrides the folder).
    Samples are (28, 28, 1) float32 in [0, 1]; the official 10,000-image
    test file is the held-out split.
    Options:
      max_train  keep this many training images, stratified by class and
                 drawn with the seed (default: all 60,000)
      max_test   the same for the test images (default: all 10,000)

gestures
    Smartwatch IMU recordings of 7 shoulder rehabilitation exercises (PEN,
    ABD, FEL, IR, ER, TRAP, ROW) by 10 subjects, 3-axis accelerometer +
    3-axis gyroscope at 50 Hz, shipped inside the PyPI package `seglearn`
    (pinned, 1.2.5) as seglearn/data/watch_dataset.npy, a pickled dict of
    numpy arrays. We read that one file with np.load(allow_pickle=True) from
    the installed package and do not import seglearn (its code needs pandas
    and an older numpy). Recordings are cut into windows; each window is a
    sample of shape (T, 1, 6): T time steps as the height of an image one
    pixel wide with 6 channels, so a Conv2D with a (k, 1) kernel is exactly a
    1-D convolution over time. Channels are standardized with the mean and
    standard deviation of the training subjects' recordings only. The split
    is by subject: no subject has windows on both sides.
    Options:
      window_s       window length in seconds (default 2.0, 100 samples)
      overlap        fraction two consecutive windows share, 0 <= overlap < 1
                     (default 0.5: a window every 50 samples)
      test_subjects  subject ids held out (default: round(test_fraction x 10)
                     subjects spread evenly over the sorted ids: 3 and 8)

kws_espeak
    Keyword spotting on words spoken by Debian's `espeak-ng` speech
    synthesizer, synthesized on this machine (no download). Classes: the
    keywords in `words`, then "silence" (background noise only) and
    "unknown" (a word from `unknown_words`), balanced: every (voice, take)
    gives each class the same number of clips. A voice is an espeak-ng
    accent plus a variant ("en-us+m3"); a take draws a speaking rate and a
    pitch. Each utterance is resampled from 22,050 Hz to 16 kHz, trimmed,
    placed in a 1 s clip with a random time shift and gain, mixed with
    white, pink or brown noise, and rounded to 16 bits as a microphone
    would deliver it. Features are the MLPerf Tiny KWS front end computed
    with tf.signal: 30 ms Hann windows every 20 ms (49 frames), 512-point
    FFT magnitude, 40 mel bins from 20 Hz to 4 kHz, log(mel + 1e-6), and
    the first 10 MFCCs: samples of shape (49, 10, 1) (log-mel: (49, 40, 1)).
    The held-out voices never occur in training; by default they are every
    voice of the held-out variants, so the test speakers' timbres are
    unheard in training. The features are cached in an .npz keyed by a hash
    of the options, the seed and the espeak-ng version, so a re-run does not
    synthesize again.
    Options:
      words          keywords (default yes no up down left right on off stop go)
      unknown_words  words of the "unknown" class (default 20 words of
                     Speech Commands' auxiliary set)
      accents        espeak-ng English voices (default en-us en en-gb-scotland
                     en-gb-x-rp en-gb-x-gbclan en-gb-x-gbcwmd en-029 en-us-nyc)
      variants       espeak-ng variants (default m1..m7, f1..f5)
      voices         explicit "accent+variant" list (default: every accent
                     with every variant, 96 voices)
      test_voices    held-out voices (default: all voices of round(test_fraction
                     x variants) variants spread evenly over the sorted names;
                     with the defaults f4 and m5 -> 16 of 96 voices; with
                     test_fraction 0.25, f3, m2 and m6 -> 24 voices)
      takes          speaking rate / pitch draws per voice (default 3)
      speed_wpm      [min, max] words per minute (default [120, 200])
      pitch          [min, max] espeak-ng pitch 0..99 (default [20, 80])
      copies         augmented clips per utterance (default 2)
      gain_db        [min, max] speech gain in dB, 0 dB = peak at half scale
                     (default [-12, 0])
      noise_rms      [min, max] background noise RMS, full scale 1.0, drawn
                     log-uniformly (default [0.0001, 0.03])
      time_shift_s   largest shift of the word from the clip centre (default 0.1)
      features       "mfcc" (default) or "log_mel"
      cache          false to neither read nor write the cache (default true)
      cache_dir      default $TINYML_CACHE_DIR/kws_espeak, else
                     ~/.cache/tinyml/kws_espeak
      workers        parallel espeak-ng processes (default: the CPU count)
    `load_kws_espeak(spec, progress=...)` reports synthesis progress to a
    tinyml.progress sink.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import math
import os
import re
import struct
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dataset_types import Dataset, DatasetSpec
from .errors import DatasetError

# ---------------------------------------------------------------- shared helpers


def _options(spec: DatasetSpec, defaults: dict) -> dict:
    """spec.options over the defaults; an unknown key is an error naming it."""
    given = dict(spec.options or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise DatasetError(f"dataset kind '{spec.kind}' has no option {', '.join(map(repr, unknown))} "
                           f"(options: {', '.join(sorted(defaults))}).")
    merged = dict(defaults)
    merged.update(given)
    return merged


def _spread(items: list, count: int) -> list:
    """`count` items spread evenly over the sorted `items` (a fixed choice, no seed)."""
    items = sorted(items)
    count = max(1, min(count, len(items) - 1))
    return [items[int((i + 0.5) * len(items) / count)] for i in range(count)]


def _no_path(spec: DatasetSpec) -> None:
    if spec.path:
        raise DatasetError(f"dataset kind '{spec.kind}' takes no path (its data come with a package); "
                           f"remove path: {spec.path}.")


def _range_option(kind: str, name: str, value, low: float, high: float) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise DatasetError(f"{kind} option '{name}' must be a [min, max] pair, got {value!r}.") from None
    if not low <= a <= b <= high:
        raise DatasetError(f"{kind} option '{name}' must satisfy {low:g} <= min <= max <= {high:g}, "
                           f"got [{a:g}, {b:g}].")
    return a, b


def _positive_int_or_none(kind: str, name: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DatasetError(f"{kind} option '{name}' must be a positive whole number, got {value!r}.")
    return value


# ---------------------------------------------------------------- Fashion-MNIST

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_PACKAGE = "dataset-fashion-mnist"
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
_FASHION_FILES = {"x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
                  "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz"}
_FASHION_DEFAULTS = {"max_train": None, "max_test": None}


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (MNIST's format, gzip-compressed or not) as a numpy array.

    Header: two zero bytes, a type code (0x08 = unsigned byte), the number of
    dimensions, then each dimension as a big-endian uint32; the data follow.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path} cannot be read ({exc}).", path=path) from exc
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in dtypes:
        raise DatasetError(f"{path} is not an IDX file (bad magic number).", path=path)
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: IDX header is truncated.", path=path)
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(dtypes[raw[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DatasetError(f"{path}: IDX data has {len(raw) - header} bytes, the header "
                           f"{'x'.join(map(str, shape))} needs {expected}.", path=path)
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def _orders(n_train: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded order for the training samples and a fixed one for the held-out
    samples (the same test set in the same order whatever the seed)."""
    return (np.random.default_rng([seed, 0x747261696E]).permutation(n_train),
            np.random.default_rng(0x74657374).permutation(n_test))


def _stratified_subset(y: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """Indices of at most `limit` samples keeping the class proportions, in
    their original order."""
    if limit is None or limit >= len(y):
        return np.arange(len(y))
    from sklearn.model_selection import train_test_split
    keep, _ = train_test_split(np.arange(len(y)), train_size=limit, random_state=seed, stratify=y)
    return np.sort(keep)


@functools.lru_cache(maxsize=2)
def _fashion_arrays(folder: str, mtimes_ns: tuple[int, ...]) -> dict[str, np.ndarray]:
    """The four IDX files, decompressed once per process (keyed by their mtimes)."""
    arrays = {key: read_idx(Path(folder) / name) for key, name in _FASHION_FILES.items()}
    for a in arrays.values():
        a.setflags(write=False)
    return arrays


def load_fashion_mnist(spec: DatasetSpec) -> Dataset:
    opts = _options(spec, _FASHION_DEFAULTS)
    max_train = _positive_int_or_none("fashion_mnist", "max_train", opts["max_train"])
    max_test = _positive_int_or_none("fashion_mnist", "max_test", opts["max_test"])
    folder = Path(spec.path) if spec.path else FASHION_DIR
    missing = [name for name in _FASHION_FILES.values() if not (folder / name).is_file()]
    if missing:
        if spec.path:
            raise DatasetError(f"{folder} has no Fashion-MNIST file {missing[0]}.", path=folder)
        raise DatasetError(
            f"Fashion-MNIST is not installed ({folder / missing[0]} is missing); it comes with "
            f"Debian's {FASHION_PACKAGE} package.",
            path=folder / missing[0], hint=f"Install it with: sudo apt-get install {FASHION_PACKAGE}")
    arrays = _fashion_arrays(str(folder), tuple((folder / n).stat().st_mtime_ns for n in _FASHION_FILES.values()))
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or (len(y) and int(y.max()) >= 10):
            raise DatasetError(f"{folder}: the {part} files are not Fashion-MNIST "
                               f"(images {x.shape}, labels {y.shape}).", path=folder)
    tr = _stratified_subset(arrays["y_train"], max_train, spec.seed)
    te = _stratified_subset(arrays["y_test"], max_test, spec.seed)

    def images(x: np.ndarray) -> np.ndarray:
        return (x.astype(np.float32) / 255.0)[..., np.newaxis]

    return Dataset(images(arrays["x_train"][tr]), arrays["y_train"][tr].astype(np.int64),
                   images(arrays["x_test"][te]), arrays["y_test"][te].astype(np.int64),
                   list(FASHION_CLASSES), source=f"fashion_mnist ({folder})")


# ---------------------------------------------------------------- gestures (seglearn watch data)

GESTURES_PACKAGE = "seglearn==1.2.5"
GESTURES_RATE_HZ = 50
_GESTURES_DEFAULTS = {"window_s": 2.0, "overlap": 0.5, "test_subjects": None}


def _watch_file() -> Path:
    import importlib.util

    hint = f"Install it with: pip install {GESTURES_PACKAGE} (the project's pyproject.toml pins it)"
    try:
        found = importlib.util.find_spec("seglearn")
    except (ImportError, ValueError):
        found = None
    if found is None or not found.submodule_search_locations:
        raise DatasetError("the gestures dataset comes with the Python package seglearn, "
                           "which is not installed.", hint=hint)
    for root in found.submodule_search_locations:
        path = Path(root) / "data" / "watch_dataset.npy"
        if path.is_file():
            return path
    raise DatasetError("the installed seglearn package has no data/watch_dataset.npy.", hint=hint)


def load_watch_recordings() -> dict:
    """The raw recordings: X (list of (n, 6) float arrays at 50 Hz), y, subject,
    y_labels, X_labels, exactly as seglearn ships them."""
    path = _watch_file()
    try:
        # The file is a pickled dict inside the installed package (not user data).
        data = np.load(path, allow_pickle=True).item()
    except Exception as exc:
        raise DatasetError(f"{path} cannot be read ({exc}).", path=path) from exc
    required = {"X", "y", "subject", "y_labels"}
    if not isinstance(data, dict) or not required <= set(data):
        raise DatasetError(f"{path} is not the seglearn watch dataset (expected keys "
                           f"{', '.join(sorted(required))}).", path=path)
    return data


def window_recording(recording: np.ndarray, window: int, step: int) -> np.ndarray:
    """(n, C) -> (floor((n - window) / step) + 1, window, C); nothing when n < window."""
    n = len(recording)
    if n < window:
        return np.zeros((0, window) + recording.shape[1:], recording.dtype)
    starts = np.arange(0, n - window + 1, step)
    return np.stack([recording[s:s + window] for s in starts])


def make_gesture_windows(recordings: list[np.ndarray], labels: np.ndarray, subjects: np.ndarray,
                         test_subjects: list, window: int, step: int):
    """Window every recording, standardize with training statistics, split by subject.

    Returns (x_train, y_train, x_test, y_test, subject_train, subject_test);
    x has shape (N, window, 1, C).
    """
    test_set = set(test_subjects)
    is_test = np.array([s in test_set for s in subjects])
    train_samples = np.concatenate([np.asarray(r, np.float64) for r, t in zip(recordings, is_test) if not t])
    mean = train_samples.mean(axis=0)
    std = train_samples.std(axis=0)
    std[std == 0] = 1.0
    parts: dict[bool, tuple[list, list, list]] = {False: ([], [], []), True: ([], [], [])}
    for rec, label, subject, test in zip(recordings, labels, subjects, is_test):
        wins = window_recording((np.asarray(rec, np.float64) - mean) / std, window, step)
        xs, ys, ss = parts[bool(test)]
        xs.append(wins)
        ys.append(np.full(len(wins), label, np.int64))
        ss.append(np.full(len(wins), subject))
    out = []
    for test in (False, True):
        xs, ys, ss = parts[test]
        x = np.concatenate(xs).astype(np.float32)[:, :, np.newaxis, :]
        out += [x, np.concatenate(ys), np.concatenate(ss)]
    x_tr, y_tr, s_tr, x_te, y_te, s_te = out
    return x_tr, y_tr, x_te, y_te, s_tr, s_te


def gesture_split(spec: DatasetSpec):
    """The gestures dataset with its subject columns (for inspection and tests)."""
    opts = _options(spec, _GESTURES_DEFAULTS)
    _no_path(spec)
    try:
        window_s, overlap = float(opts["window_s"]), float(opts["overlap"])
    except (TypeError, ValueError):
        raise DatasetError("gestures options window_s and overlap must be numbers.") from None
    if not 0 <= overlap < 1:
        raise DatasetError(f"gestures option overlap must be at least 0 and below 1, got {overlap:g}.")
    window = int(round(window_s * GESTURES_RATE_HZ))
    if window < 2:
        raise DatasetError(f"gestures option window_s={window_s:g} is shorter than two samples at "
                           f"{GESTURES_RATE_HZ} Hz.")
    step = max(1, int(round(window * (1 - overlap))))
    data = load_watch_recordings()
    subjects = np.asarray(data["subject"]).astype(np.int64)
    known = sorted(set(subjects.tolist()))
    if opts["test_subjects"] is None:
        test_subjects = _spread(known, int(round(spec.test_fraction * len(known))))
    else:
        try:
            test_subjects = sorted({int(s) for s in opts["test_subjects"]})
        except (TypeError, ValueError):
            raise DatasetError("gestures option test_subjects must be a list of subject ids "
                               f"({', '.join(map(str, known))}).") from None
        unknown = [s for s in test_subjects if s not in known]
        if unknown:
            raise DatasetError(f"gestures option test_subjects names unknown subject(s) "
                               f"{', '.join(map(str, unknown))} (subjects: {', '.join(map(str, known))}).")
        if not test_subjects or len(test_subjects) == len(known):
            raise DatasetError("gestures option test_subjects must hold out some subjects, not none or all.")
    x_tr, y_tr, x_te, y_te, s_tr, s_te = make_gesture_windows(
        data["X"], np.asarray(data["y"]).astype(np.int64), subjects, test_subjects, window, step)
    if len(x_tr) == 0 or len(x_te) == 0:
        raise DatasetError(f"gestures option window_s={window_s:g} is longer than the recordings.")
    # Windows come out recording by recording; mixed, any first N held-out
    # windows (what emulation bakes into the firmware) cover all classes.
    tr, te = _orders(len(x_tr), len(x_te), spec.seed)
    x_tr, y_tr, s_tr, x_te, y_te, s_te = x_tr[tr], y_tr[tr], s_tr[tr], x_te[te], y_te[te], s_te[te]
    names = [str(n) for n in data["y_labels"]]
    dataset = Dataset(x_tr, y_tr, x_te, y_te, names,
                      source=f"gestures (seglearn watch data, {window_s:g} s windows, "
                             f"test subjects {', '.join(map(str, test_subjects))})")
    return dataset, s_tr, s_te


def load_gestures(spec: DatasetSpec) -> Dataset:
    return gesture_split(spec)[0]


# ---------------------------------------------------------------- keyword spotting (espeak-ng)

KWS_SAMPLE_RATE_HZ = 16000
ESPEAK_PACKAGE = "espeak-ng"
_KWS_CACHE_FORMAT = 2  # 2: clips in a mixed order
_WORD_RE = re.compile(r"^[A-Za-z][A-Za-z' ]*$")
_KWS_DEFAULTS = {
    "words": ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"],
    "unknown_words": ["bed", "bird", "cat", "dog", "eight", "five", "four", "happy", "house", "marvin",
                      "nine", "one", "seven", "sheila", "six", "three", "tree", "two", "wow", "zero"],
    # "en" is British English: espeak-ng ignores a variant given as "en-gb+<variant>".
    "accents": ["en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
                "en-029", "en-us-nyc"],
    "variants": ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5"],
    "voices": None,
    "test_voices": None,
    "takes": 3,
    "speed_wpm": [120, 200],
    "pitch": [20, 80],
    "copies": 2,
    "gain_db": [-12, 0],
    "noise_rms": [0.0001, 0.03],
    "time_shift_s": 0.1,
    "features": "mfcc",
    "cache": True,
    "cache_dir": None,
    "workers": None,
}
# Options that change the data (and so the cache key); the others only say how to make it.
_KWS_DATA_OPTIONS = ("words", "unknown_words", "voices", "test_voices", "takes", "speed_wpm", "pitch",
                     "copies", "gain_db", "noise_rms", "time_shift_s", "features")


def _require_espeak() -> str:
    import shutil

    found = shutil.which("espeak-ng")
    if found is None:
        raise DatasetError("the kws_espeak dataset is synthesized with espeak-ng, which is not installed.",
                           hint=f"Install it with: sudo apt-get install {ESPEAK_PACKAGE}")
    return found


def _espeak_catalogue(espeak: str) -> tuple[str, set[str], set[str]]:
    """(version line, language names, variant names) as this espeak-ng reports them."""
    from .proc import run

    version = run([espeak, "--version"], timeout_s=30).stdout.strip().split("  Data at")[0]
    languages: set[str] = set()
    for line in run([espeak, "--voices"], timeout_s=30).stdout.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 2:
            languages.add(cols[1])
        languages.update(re.findall(r"\(([A-Za-z0-9-]+) \d+\)", line))
    variants = set(re.findall(r"!v/(\S+)", run([espeak, "--voices=variant"], timeout_s=30).stdout))
    return version, languages, variants


def kws_class_names(words: list[str]) -> list[str]:
    return list(words) + ["silence", "unknown"]


@dataclass(frozen=True)
class _KwsPlan:
    """Everything random about the dataset, drawn up front so that parallel
    synthesis cannot change the result."""

    options: dict
    voices: list[str]
    test_voices: list[str]
    utterances: list[tuple[str, str, int, int]]   # (voice, word, speed_wpm, pitch), synthesized
    clips: list[tuple[int, int, str]]             # (class index, utterance index or -1 = silence, voice)


def _kws_plan(spec: DatasetSpec, catalogue: tuple[str, set[str], set[str]] | None) -> _KwsPlan:
    opts = _options(spec, _KWS_DEFAULTS)
    _no_path(spec)
    kind = "kws_espeak"

    def words(name: str) -> list[str]:
        value = opts[name]
        if isinstance(value, list) and any(isinstance(w, bool) for w in value):
            raise DatasetError(f"{kind} option '{name}' holds true/false: quote yes, no, on and off in "
                               f"YAML (\"yes\"), or they are read as booleans.")
        if isinstance(value, str) or not value or not all(isinstance(w, str) and _WORD_RE.match(w)
                                                         for w in value):
            raise DatasetError(f"{kind} option '{name}' must be a non-empty list of words "
                               f"(letters, apostrophes, spaces), got {value!r}.")
        if len(set(value)) != len(value):
            raise DatasetError(f"{kind} option '{name}' lists a word twice.")
        return list(value)

    keywords, unknown = words("words"), words("unknown_words")
    clash = sorted(set(keywords) & set(unknown))
    if clash:
        raise DatasetError(f"{kind}: {', '.join(clash)} is both a keyword and an unknown word.")
    if opts["voices"] is None:
        voices = [f"{a}+{v}" for a in opts["accents"] for v in opts["variants"]]
    else:
        voices = list(opts["voices"])
    if not all(isinstance(v, str) for v in voices) or len(voices) < 2 or len(set(voices)) != len(voices):
        raise DatasetError(f"{kind} needs at least two distinct voices (some for training, some held "
                           f"out), got {voices!r}.")
    if catalogue is not None:
        _, languages, variants = catalogue
        for voice in voices:
            accent, _, variant = str(voice).partition("+")
            if accent not in languages or (variant and variant not in variants):
                raise DatasetError(f"{kind}: espeak-ng has no voice '{voice}' (accents: `espeak-ng "
                                   f"--voices=en`; variants: `espeak-ng --voices=variant`).")
    if opts["test_voices"] is None:
        by_variant: dict[str, list[str]] = {}
        for voice in voices:
            by_variant.setdefault(voice.partition("+")[2], []).append(voice)
        if len(by_variant) >= 2:
            held = _spread(list(by_variant), int(round(spec.test_fraction * len(by_variant))))
            test_voices = [v for v in voices if v.partition("+")[2] in held]
        else:
            test_voices = _spread(voices, int(round(spec.test_fraction * len(voices))))
    else:
        test_voices = list(opts["test_voices"])
        stray = [v for v in test_voices if v not in voices]
        if stray:
            raise DatasetError(f"{kind} option test_voices names {', '.join(stray)}, not in voices.")
        if not test_voices or len(set(test_voices)) == len(voices):
            raise DatasetError(f"{kind} option test_voices must hold out some voices, not none or all.")
    takes = _positive_int_or_none(kind, "takes", opts["takes"])
    copies = _positive_int_or_none(kind, "copies", opts["copies"])
    speed = _range_option(kind, "speed_wpm", opts["speed_wpm"], 80, 450)
    pitch = _range_option(kind, "pitch", opts["pitch"], 0, 99)
    _range_option(kind, "gain_db", opts["gain_db"], -60, 20)
    _range_option(kind, "noise_rms", opts["noise_rms"], 1e-6, 1)
    if not 0 <= float(opts["time_shift_s"]) <= 0.5:
        raise DatasetError(f"{kind} option time_shift_s must be between 0 and 0.5 s.")
    if opts["features"] not in ("mfcc", "log_mel"):
        raise DatasetError(f"{kind} option features must be 'mfcc' or 'log_mel', got {opts['features']!r}.")

    rng = np.random.default_rng([spec.seed, 0x6B7773])
    utterances: list[tuple[str, str, int, int]] = []
    clips: list[tuple[int, int, str]] = []
    silence, unknown_class = len(keywords), len(keywords) + 1
    for voice in voices:
        for _ in range(takes):
            s = int(rng.integers(int(speed[0]), int(speed[1]) + 1))
            p = int(rng.integers(int(pitch[0]), int(pitch[1]) + 1))
            spoken = [(c, w) for c, w in enumerate(keywords)]
            spoken.append((unknown_class, unknown[int(rng.integers(len(unknown)))]))
            for label, word in spoken:
                utterances.append((voice, word, s, p))
                clips += [(label, len(utterances) - 1, voice)] * copies
            clips += [(silence, -1, voice)] * copies
    data_opts = {k: opts[k] for k in _KWS_DATA_OPTIONS}
    data_opts.update(voices=voices, test_voices=sorted(test_voices))
    return _KwsPlan({**opts, **data_opts}, voices, sorted(test_voices), utterances, clips)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise DatasetError(f"{path}: espeak-ng wrote {8 * w.getsampwidth()}-bit audio, expected 16-bit.")
        frames = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0
        return frames.reshape(-1, w.getnchannels()).mean(axis=1), w.getframerate()


def _synthesize(espeak: str, workdir: Path, index: int, utterance: tuple[str, str, int, int]) -> np.ndarray:
    """One utterance at 16 kHz, trimmed of leading and trailing silence."""
    from scipy.signal import resample_poly

    from .proc import run

    voice, word, speed, pitch = utterance
    out = workdir / f"{index}.wav"
    run([espeak, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), word], timeout_s=60)
    audio, rate = _read_wav(out)
    out.unlink()
    if rate != KWS_SAMPLE_RATE_HZ:
        g = math.gcd(KWS_SAMPLE_RATE_HZ, rate)
        audio = resample_poly(audio, KWS_SAMPLE_RATE_HZ // g, rate // g).astype(np.float32)
    loud = np.flatnonzero(np.abs(audio) > 0.02 * max(float(np.abs(audio).max()), 1e-9))
    if loud.size == 0:
        raise DatasetError(f"espeak-ng produced silence for '{word}' with voice {voice}.")
    margin = KWS_SAMPLE_RATE_HZ // 100  # keep 10 ms around the word
    return audio[max(0, loud[0] - margin):loud[-1] + 1 + margin]


def colored_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise whose power falls as 1/f**exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    noise = np.fft.irfft(spectrum / f ** (exponent / 2), n)
    noise -= noise.mean()
    return noise / max(float(np.sqrt(np.mean(noise ** 2))), 1e-12)


def _make_clip(speech: np.ndarray | None, opts: dict, rng: np.random.Generator) -> np.ndarray:
    """A 1 s, 16-bit-rounded clip: shifted, gained speech (or none) over noise."""
    n = KWS_SAMPLE_RATE_HZ
    clip = np.zeros(n, np.float64)
    if speech is not None:
        speech = speech[:n] / max(float(np.abs(speech).max()), 1e-9) * 0.5
        g_lo, g_hi = (float(v) for v in opts["gain_db"])
        speech = speech * 10 ** (rng.uniform(g_lo, g_hi) / 20)
        room = n - len(speech)
        shift = rng.uniform(-1, 1) * float(opts["time_shift_s"]) * n
        start = int(np.clip(round(room / 2 + shift), 0, room))
        clip[start:start + len(speech)] = speech
    lo, hi = (float(v) for v in opts["noise_rms"])
    rms = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    clip += rms * colored_noise(n, float(rng.choice([0.0, 1.0, 2.0])), rng)
    return np.round(np.clip(clip, -1, 32767 / 32768) * 32768) / 32768


def kws_features(audio: np.ndarray, kind: str = "mfcc", batch: int = 512) -> np.ndarray:
    """(N, 16000) clips -> (N, 49, 10, 1) MFCCs (or (N, 49, 40, 1) log-mel), the
    MLPerf Tiny KWS front end."""
    from .tfcompat import tf

    t = tf()
    mel = t.signal.linear_to_mel_weight_matrix(num_mel_bins=40, num_spectrogram_bins=257,
                                               sample_rate=KWS_SAMPLE_RATE_HZ,
                                               lower_edge_hertz=20.0, upper_edge_hertz=4000.0)
    out = []
    for i in range(0, len(audio), batch):
        x = t.constant(np.asarray(audio[i:i + batch], np.float32))
        stft = t.signal.stft(x, frame_length=480, frame_step=320, fft_length=512,
                             window_fn=t.signal.hann_window)
        log_mel = t.math.log(t.tensordot(t.abs(stft), mel, 1) + 1e-6)
        feats = log_mel if kind == "log_mel" else t.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., :10]
        out.append(feats.numpy())
    if not out:
        return np.zeros((0, 49, 40 if kind == "log_mel" else 10, 1), np.float32)
    return np.concatenate(out)[..., np.newaxis].astype(np.float32)


def kws_cache_path(spec: DatasetSpec) -> Path | None:
    """Where the features for this spec are (or would be) cached; None with cache: false."""
    opts = _options(spec, _KWS_DEFAULTS)
    if not opts["cache"]:
        return None
    espeak = _require_espeak()
    catalogue = _espeak_catalogue(espeak)
    return _cache_file(_kws_plan(spec, catalogue), spec, catalogue[0])


def _cache_file(plan: _KwsPlan, spec: DatasetSpec, version: str) -> Path:
    key = json.dumps({"format": _KWS_CACHE_FORMAT, "seed": spec.seed, "espeak": version,
                      "options": {k: plan.options[k] for k in _KWS_DATA_OPTIONS}}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    if plan.options["cache_dir"]:
        root = Path(plan.options["cache_dir"]).expanduser()
    else:
        base = os.environ.get("TINYML_CACHE_DIR")
        root = (Path(base) if base else Path.home() / ".cache" / "tinyml") / "kws_espeak"
    return root / f"{digest}.npz"


def kws_split(spec: DatasetSpec, progress=None) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """The kws_espeak dataset plus the voice of every training and test clip."""
    from .progress import NullProgress

    opts = _options(spec, _KWS_DEFAULTS)
    espeak = _require_espeak()
    catalogue = _espeak_catalogue(espeak)
    plan = _kws_plan(spec, catalogue)
    words = plan.options["words"]
    names = kws_class_names(words)
    cache = _cache_file(plan, spec, catalogue[0]) if opts["cache"] else None
    if cache is not None and cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            return _kws_dataset(arrays, names, cache)
        except Exception:
            pass  # an unreadable cache is rebuilt below
    sink = progress or NullProgress()
    workers = _positive_int_or_none("kws_espeak", "workers", opts["workers"]) or os.cpu_count() or 2
    speech: list[np.ndarray | None] = [None] * len(plan.utterances)
    sink.start(f"synthesize {len(plan.utterances)} words with espeak-ng", len(plan.utterances))
    with tempfile.TemporaryDirectory(prefix="tinyml-kws-") as tmp, ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(_synthesize, espeak, Path(tmp), i, u) for i, u in enumerate(plan.utterances)]
        try:
            for i, future in enumerate(futures):
                speech[i] = future.result()
                sink.advance(1, plan.utterances[i][0])
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    clips = np.empty((len(plan.clips), KWS_SAMPLE_RATE_HZ), np.float32)
    for i, (_, utt, _) in enumerate(plan.clips):
        rng = np.random.default_rng([spec.seed, 0x636C6970, i])
        clips[i] = _make_clip(None if utt < 0 else speech[utt], plan.options, rng)
    features = kws_features(clips, plan.options["features"])
    labels = np.array([c[0] for c in plan.clips], np.int64)
    voices = np.array([c[2] for c in plan.clips])
    train_idx, test_idx = np.flatnonzero(~np.isin(voices, plan.test_voices)), np.flatnonzero(np.isin(voices, plan.test_voices))
    # Clips are planned voice by voice; mixed, any first N held-out clips cover many voices.
    tr, te = _orders(len(train_idx), len(test_idx), spec.seed)
    train_idx, test_idx = train_idx[tr], test_idx[te]
    arrays = {"x_train": features[train_idx], "y_train": labels[train_idx], "voice_train": voices[train_idx],
              "x_test": features[test_idx], "y_test": labels[test_idx], "voice_test": voices[test_idx],
              "class_names": np.array(names)}
    if cache is not None:
        from .artifacts import atomic_write_bytes
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(cache, buf.getvalue())
    return _kws_dataset(arrays, names, cache)


def _kws_dataset(arrays: dict, names: list[str], cache: Path | None):
    if [str(n) for n in arrays["class_names"]] != names:
        raise ValueError("cached class names differ")
    source = "kws_espeak" + (f" (cached in {cache})" if cache else "")
    return (Dataset(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
                    names, source=source), arrays["voice_train"], arrays["voice_test"])


def load_kws_espeak(spec: DatasetSpec, progress=None) -> Dataset:
    return kws_split(spec, progress)[0]

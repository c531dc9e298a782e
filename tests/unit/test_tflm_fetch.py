"""`tinyml tflm fetch` against small fake sources made here: file:// and
local-HTTP archives, local git repositories. Nothing is downloaded from the
internet. Every failure must leave the cache exactly as it was."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from tinyml.errors import ConfigError, ToolError
from tinyml.runtimes import tflm
from tinyml.runtimes.tflm import fetch as fetch_mod
from tinyml.runtimes.tflm import pins as pins_mod
from tinyml.runtimes.tflm.fetch import fetch
from tinyml.runtimes.tflm.pins import DEFAULT_REF, Pin, SourcePin, manifest_digest
from tinyml.runtimes.tflm.tree import (MANIFEST_FILE, PROVENANCE_FILE, PatchError,
                                       apply_unified_diff)

REF = "1" * 40
MAKE = "tensorflow/lite/micro/tools/make"

SOURCES_INC = """\
MICROLITE_CC_KERNEL_SRCS := \\
$(TENSORFLOW_ROOT)tensorflow/lite/micro/kernels/conv.cc

THIRD_PARTY_CC_HDRS := \\
$(DOWNLOADS_DIR)/flatbuffers/include/flatbuffers/base.h \\
$(DOWNLOADS_DIR)/flatbuffers/include/flatbuffers/flatbuffers.h \\
$(DOWNLOADS_DIR)/flatbuffers/LICENSE \\
$(DOWNLOADS_DIR)/gemmlowp/fixedpoint/fixedpoint.h \\
$(DOWNLOADS_DIR)/gemmlowp/LICENSE \\
$(DOWNLOADS_DIR)/kissfft/kiss_fft.h \\
$(DOWNLOADS_DIR)/ruy/ruy/profiler/instrumentation.h

MICROLITE_TEST_SRCS := \\
$(TENSORFLOW_ROOT)tensorflow/lite/micro/micro_interpreter_test.cc
"""

FLATBUFFERS_PATCH = """\
diff --git a/include/flatbuffers/base.h b/include/flatbuffers/base.h
index 1111111..2222222 100644
--- a/include/flatbuffers/base.h
+++ b/include/flatbuffers/base.h
@@ -1,3 +1,5 @@
 #ifndef FLATBUFFERS_BASE_H_
 #define FLATBUFFERS_BASE_H_
+// patched for TFLM
+#define FLATBUFFERS_LOCALE_INDEPENDENT 0
 int base;
--
2.0
"""

BASE_H = "#ifndef FLATBUFFERS_BASE_H_\n#define FLATBUFFERS_BASE_H_\nint base;\n#endif\n"
BASE_H_PATCHED = ("#ifndef FLATBUFFERS_BASE_H_\n#define FLATBUFFERS_BASE_H_\n// patched for TFLM\n"
                  "#define FLATBUFFERS_LOCALE_INDEPENDENT 0\nint base;\n#endif\n")


def fake_sources(dep_commits: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
    """name -> {path: text} for a tiny but correctly laid out set of sources."""
    deps = dep_commits or {}
    tflm_files = {
        "LICENSE": "tflm license\n",
        "README.md": "not copied\n",
        "tensorflow/lite/micro/micro_interpreter.h": "// interpreter\n",
        "tensorflow/lite/micro/micro_interpreter.cc": "// interpreter impl\n",
        "tensorflow/lite/micro/micro_interpreter_test.cc": "// a test: not copied\n",
        "tensorflow/lite/micro/micro_mutable_op_resolver.h":
            "TfLiteStatus AddConv2D(\nTfLiteStatus AddFullyConnected(\n",
        "tensorflow/lite/micro/micro_time.cc": "// reference clock\n",
        "tensorflow/lite/micro/debug_log.cc": "// reference log\n",
        "tensorflow/lite/micro/cortex_m_generic/debug_log.cc": "// cortex-m log\n",
        "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h": "// callback\n",
        "tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.cc": "// arena\n",
        "tensorflow/lite/micro/kernels/conv.cc": "// reference conv\n",
        "tensorflow/lite/micro/kernels/conv.h": "// conv header\n",
        "tensorflow/lite/micro/kernels/conv_test.cc": "// not copied\n",
        "tensorflow/lite/micro/kernels/conv_test_common.cc": "// not copied\n",
        "tensorflow/lite/micro/kernels/cmsis_nn/conv.cc": "// cmsis-nn conv\n",
        "tensorflow/lite/micro/examples/hello/main.cc": "// not copied\n",
        "tensorflow/lite/core/c/common.cc": "// shared with TfLite\n",
        "tensorflow/lite/core/c/common.h": "// shared header\n",
        "tensorflow/lite/array.cc": "// excluded under static memory\n",
        "tensorflow/lite/experimental/x.cc": "// not copied\n",
        "signal/src/window.h": "// signal header\n",
        "signal/src/window.cc": "// signal source: not copied\n",
        f"{MAKE}/sources.inc": SOURCES_INC,
        f"{MAKE}/flatbuffers.patch": FLATBUFFERS_PATCH,
        f"{MAKE}/third_party_downloads.inc": (
            f'GEMMLOWP_URL := "https://github.com/google/gemmlowp/archive/{deps.get("gemmlowp", "a" * 40)}.zip"\n'
            'GEMMLOWP_MD5 := "7e8191b24853d75de2af87622ad293ba"\n'
            f'RUY_URL="https://github.com/google/ruy/archive/{deps.get("ruy", "b" * 40)}.zip"\n'
            'RUY_MD5="abf7a91eb90d195f016ebe0be885bb6e"\n'
            'FLATBUFFERS_URL := "https://github.com/google/flatbuffers/archive/refs/tags/v9.9.9.zip"\n'
            'FLATBUFFERS_MD5 := "023eca1e211d64007124420cd6be29c7"\n'),
        f"{MAKE}/ext_libs/cmsis_download.sh": (
            "set -e\n"
            f'  ZIP_PREFIX="{deps.get("cmsis", "c" * 40)}"\n'
            '  CMSIS_URL="http://github.com/ARM-software/CMSIS_6/archive/${ZIP_PREFIX}.zip"\n'
            '  CMSIS_MD5="563e7c6465f63bdc034359e9b536b366"\n'
            '  ZIP_PREFIX="' + "f" * 40 + '"\n'
            '  CMSIS_DFP_URL="http://github.com/ARM-software/Cortex_DFP/archive/${ZIP_PREFIX}.zip"\n'),
        f"{MAKE}/ext_libs/cmsis_nn_download.sh": (
            f'ZIP_PREFIX_NN="{deps.get("cmsis_nn", "d" * 40)}"\n'
            'CMSIS_NN_URL="http://github.com/ARM-software/CMSIS-NN/archive/${ZIP_PREFIX_NN}.zip"\n'
            'CMSIS_NN_MD5="c960031e7d10cf31c477fb34ef460106"\n'),
    }
    return {
        "tflite-micro": tflm_files,
        "flatbuffers": {"LICENSE": "fb license\n", "include/flatbuffers/base.h": BASE_H,
                        "include/flatbuffers/flatbuffers.h": "// fb\n",
                        "include/flatbuffers/idl.h": "// not listed: not copied\n"},
        "gemmlowp": {"LICENSE": "gemmlowp license\n", "fixedpoint/fixedpoint.h": "// fixedpoint\n",
                     "fixedpoint/fixedpoint_avx.h": "// not listed\n"},
        "ruy": {"LICENSE": "ruy\n", "ruy/profiler/instrumentation.h": "// ruy\n"},
        "cmsis": {"LICENSE": "cmsis license\n", "CMSIS/Core/Include/cmsis_compiler.h": "// compiler\n",
                  "CMSIS/Core/Include/m-profile/cmsis_gcc_m.h": "// gcc m\n",
                  "CMSIS/Core/Include/a-profile/cmsis_gcc_a.h": "// not copied\n",
                  "CMSIS/RTOS2/x.h": "// not copied\n"},
        "cmsis_nn": {"LICENSE": "cmsis-nn license\n", "Include/arm_nnfunctions.h": "// nn\n",
                     "Include/Internal/arm_nn_compiler.h": "// nn internal\n",
                     "Source/ConvolutionFunctions/arm_convolve_s8.c": "// conv s8\n",
                     "Source/ConvolutionFunctions/arm_convolve_f16.c": "// float: not copied\n",
                     "Source/NNSupportFunctions/arm_nntables_flt.c": "// float tables: not copied\n",
                     "Tests/test.c": "// not copied\n"},
    }


def expected_tree(sources) -> dict[str, str]:
    """Tree path -> content, written out by hand (what tree.py must select)."""
    t, fb, gl = sources["tflite-micro"], sources["flatbuffers"], sources["gemmlowp"]
    out = {p: t[p] for p in (
        "LICENSE", "tensorflow/lite/micro/micro_interpreter.h", "tensorflow/lite/micro/micro_interpreter.cc",
        "tensorflow/lite/micro/micro_mutable_op_resolver.h", "tensorflow/lite/micro/micro_time.cc",
        "tensorflow/lite/micro/debug_log.cc", "tensorflow/lite/micro/cortex_m_generic/debug_log.cc",
        "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h",
        "tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.cc",
        "tensorflow/lite/micro/kernels/conv.cc", "tensorflow/lite/micro/kernels/conv.h",
        "tensorflow/lite/micro/kernels/cmsis_nn/conv.cc", "tensorflow/lite/core/c/common.cc",
        "tensorflow/lite/core/c/common.h", "signal/src/window.h")}
    out["third_party/flatbuffers/include/flatbuffers/base.h"] = BASE_H_PATCHED
    out["third_party/flatbuffers/include/flatbuffers/flatbuffers.h"] = fb["include/flatbuffers/flatbuffers.h"]
    out["third_party/flatbuffers/LICENSE"] = fb["LICENSE"]
    out["third_party/gemmlowp/fixedpoint/fixedpoint.h"] = gl["fixedpoint/fixedpoint.h"]
    out["third_party/gemmlowp/LICENSE"] = gl["LICENSE"]
    out["third_party/ruy/ruy/profiler/instrumentation.h"] = sources["ruy"]["ruy/profiler/instrumentation.h"]
    for p in ("LICENSE", "CMSIS/Core/Include/cmsis_compiler.h", "CMSIS/Core/Include/m-profile/cmsis_gcc_m.h"):
        out[f"third_party/cmsis/{p}"] = sources["cmsis"][p]
    for p in ("LICENSE", "Include/arm_nnfunctions.h", "Include/Internal/arm_nn_compiler.h",
              "Source/ConvolutionFunctions/arm_convolve_s8.c"):
        out[f"third_party/cmsis_nn/{p}"] = sources["cmsis_nn"][p]
    return out


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_tarball(path: Path, top: str, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for rel, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


COMMITS = {"tflite-micro": REF, "flatbuffers": "2" * 40, "gemmlowp": "3" * 40, "ruy": "4" * 40,
           "cmsis": "5" * 40, "cmsis_nn": "6" * 40}
REPOS = {"tflite-micro": "tensorflow/tflite-micro", **pins_mod.DEPENDENCY_REPOS}


@pytest.fixture
def archives(tmp_path):
    """Tarballs of the fake sources and a pin naming them by file:// URL."""
    sources = fake_sources()
    adir = tmp_path / "archives"
    adir.mkdir()
    srcs = []
    for name, files in sources.items():
        tar = make_tarball(adir / f"{name}.tar.gz", f"{name}-{COMMITS[name]}", files)
        srcs.append(SourcePin(name=name, repo=REPOS[name], commit=COMMITS[name], url=tar.as_uri()))
    manifest = {rel: sha(text) for rel, text in expected_tree(sources).items()}
    return sources, Pin(ref=REF, sources=tuple(srcs), manifest=manifest), adir


def _cache_listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []


def test_download_assembles_exactly_the_selected_files_and_verifies_them(tmp_path, archives):
    sources, pin, _ = archives
    cache = tmp_path / "cache"
    result = fetch(pin=pin, dest_root=cache)
    tree = cache / REF
    assert result.tree == tree and result.verified and result.method == "download"
    want = expected_tree(sources)
    got = {p.relative_to(tree).as_posix(): p.read_text() for p in tree.rglob("*") if p.is_file()}
    assert {k: v for k, v in got.items() if k not in (PROVENANCE_FILE, MANIFEST_FILE)} == want
    # sha256sum format, sorted by path, and the recorded digest is of that text
    lines = (tree / MANIFEST_FILE).read_text().splitlines()
    assert lines == [f"{sha(want[p])}  {p}" for p in sorted(want)]
    prov = json.loads((tree / PROVENANCE_FILE).read_text())
    assert prov["verified"] is True and prov["method"] == "download" and prov["ref"] == REF
    assert prov["manifest_sha256"] == manifest_digest({p: sha(t) for p, t in want.items()})
    by_name = {s["name"]: s for s in prov["sources"]}
    archive = Path(pin.source("cmsis_nn").url[len("file://"):])
    assert by_name["cmsis_nn"]["archive_sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert by_name["cmsis_nn"]["commit"] == COMMITS["cmsis_nn"]
    # only the tree: no staging or temporary directory left next to it
    assert sorted(p.name for p in cache.iterdir()) == [REF]
    # a second fetch finds it in the cache and does nothing
    again = fetch(pin=pin, dest_root=cache)
    assert again.method == "cached" and again.manifest_sha256 == result.manifest_sha256
    # a tree of that ref that is not the pinned one (e.g. assembled unverified) is replaced
    prov["manifest_sha256"] = "0" * 64
    (tree / PROVENANCE_FILE).write_text(json.dumps(prov))
    assert fetch(pin=pin, dest_root=cache).method == "download"
    assert json.loads((tree / PROVENANCE_FILE).read_text())["manifest_sha256"] == result.manifest_sha256


def test_a_file_differing_from_the_manifest_installs_nothing(tmp_path, archives):
    sources, pin, adir = archives
    altered = dict(sources["cmsis_nn"])
    altered["Source/ConvolutionFunctions/arm_convolve_s8.c"] = "// tampered\n"
    make_tarball(adir / "cmsis_nn.tar.gz", f"cmsis_nn-{COMMITS['cmsis_nn']}", altered)
    cache = tmp_path / "cache"
    with pytest.raises(ToolError, match=r"does not match the pinned manifest.*arm_convolve_s8\.c"):
        fetch(pin=pin, dest_root=cache)
    assert _cache_listing(cache) == []


def test_an_archive_checksum_mismatch_installs_nothing(tmp_path, archives):
    _, pin, _ = archives
    srcs = [SourcePin(**{**vars(s), "archive_sha256": "0" * 64}) if s.name == "ruy" else s
            for s in pin.sources]
    cache = tmp_path / "cache"
    with pytest.raises(ToolError, match="checksum mismatch for .*ruy"):
        fetch(pin=Pin(pin.ref, tuple(srcs), pin.manifest), dest_root=cache)
    assert _cache_listing(cache) == []
    # the right archive checksum passes
    good = hashlib.sha256(Path(pin.source("ruy").url[len("file://"):]).read_bytes()).hexdigest()
    srcs = [SourcePin(**{**vars(s), "archive_sha256": good}) if s.name == "ruy" else s for s in pin.sources]
    assert fetch(pin=Pin(pin.ref, tuple(srcs), pin.manifest), dest_root=cache).verified


def test_a_missing_archive_installs_nothing(tmp_path, archives):
    _, pin, adir = archives
    (adir / "gemmlowp.tar.gz").unlink()
    cache = tmp_path / "cache"
    with pytest.raises(ToolError, match="cannot download .*gemmlowp.tar.gz") as info:
        fetch(pin=pin, dest_root=cache)
    assert "--from" in info.value.hint
    assert _cache_listing(cache) == []


class _ShortBodyHandler(http.server.BaseHTTPRequestHandler):
    """Announces the whole archive but sends only its first half, then hangs up."""
    payloads: dict[str, bytes] = {}

    def do_GET(self):
        body = self.payloads[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


def test_an_interrupted_http_download_installs_nothing(tmp_path, archives):
    _, pin, adir = archives
    _ShortBodyHandler.payloads = {"/cmsis.tar.gz": (adir / "cmsis.tar.gz").read_bytes()}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ShortBodyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cmsis.tar.gz"
        srcs = [SourcePin(**{**vars(s), "url": url}) if s.name == "cmsis" else s for s in pin.sources]
        cache = tmp_path / "cache"
        with pytest.raises(ToolError, match="interrupted|ended after"):
            fetch(pin=Pin(pin.ref, tuple(srcs), pin.manifest), dest_root=cache)
        assert _cache_listing(cache) == []
    finally:
        server.shutdown()
        server.server_close()


def test_a_reader_failing_midway_installs_nothing_and_keeps_the_old_tree(tmp_path, archives, monkeypatch):
    _, pin, _ = archives
    cache = tmp_path / "cache"
    fetch(pin=pin, dest_root=cache)
    before = {p: p.read_bytes() for p in (cache / REF).rglob("*") if p.is_file()}

    real_urlopen = fetch_mod.urllib.request.urlopen

    class Failing:
        def __init__(self, resp):
            self.resp, self.headers, self.calls = resp, resp.headers, 0

        def read(self, n):
            self.calls += 1
            if self.calls > 1:
                raise ConnectionResetError("connection reset by peer")
            return self.resp.read(min(n, 100))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.resp.close()

    monkeypatch.setattr(fetch_mod.urllib.request, "urlopen",
                        lambda url, timeout=None: Failing(real_urlopen(url, timeout=timeout)))
    with pytest.raises(ToolError, match="interrupted after 100 bytes"):
        fetch(pin=pin, dest_root=cache, force=True)
    after = {p: p.read_bytes() for p in (cache / REF).rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in cache.iterdir()) == [REF]


# --- --from local git clones -------------------------------------------------------------

def _git(*args, cwd=None) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e", GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def make_repo(path: Path, files: dict[str, str], bare: bool = False, tag: str | None = None) -> tuple[Path, str]:
    work = path.with_name(path.name + "-work") if bare else path
    work.mkdir(parents=True)
    _git("init", "-q", "-b", "main", cwd=work)
    for rel, text in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "-m", "fake", cwd=work)
    if tag:
        _git("tag", tag, cwd=work)
    commit = _git("rev-parse", "HEAD", cwd=work)
    # a later commit, so the pinned one is not simply HEAD
    (work / "LATER.txt").write_text("later\n")
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "-m", "later", cwd=work)
    if bare:
        _git("clone", "-q", "--bare", str(work), str(path))
    return path, commit


@pytest.fixture(scope="module")
def git_clones(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("clones")
    deps = fake_sources()
    dirs, commits = {}, {}
    for name, files in deps.items():
        if name == "tflite-micro":
            continue
        dirs[name], commits[name] = make_repo(tmp_path / "git" / name, files, bare=(name == "cmsis_nn"),
                                              tag="v9.9.9" if name == "flatbuffers" else None)
    sources = fake_sources(commits)  # the TFLM scripts name these dependency commits
    dirs["tflite-micro"], commits["tflite-micro"] = make_repo(tmp_path / "git" / "tflite-micro",
                                                              sources["tflite-micro"])
    return sources, dirs, commits


def test_from_git_clones_gives_the_same_verified_tree(tmp_path, git_clones):
    sources, dirs, commits = git_clones
    manifest = {rel: sha(text) for rel, text in expected_tree(sources).items()}
    pin = Pin(ref=commits["tflite-micro"], manifest=manifest, sources=tuple(
        SourcePin(name=n, repo=REPOS[n], commit=commits[n], url=f"https://example.invalid/{n}.tar.gz")
        for n in pins_mod.SOURCE_NAMES))
    cache = tmp_path / "cache"
    # any order, checkouts and a bare repository mixed
    result = fetch(pin=pin, from_dirs=list(reversed(list(dirs.values()))), dest_root=cache)
    assert result.verified and result.method == "git"
    assert result.manifest_sha256 == manifest_digest(manifest)
    tree = cache / commits["tflite-micro"]
    assert (tree / "third_party/flatbuffers/include/flatbuffers/base.h").read_text() == BASE_H_PATCHED
    assert not (tree / "LATER.txt").exists()  # the pinned commit, not HEAD
    prov = json.loads((tree / PROVENANCE_FILE).read_text())
    assert {s["name"]: s["git_dir"] for s in prov["sources"]}["cmsis_nn"] == str(dirs["cmsis_nn"].resolve())
    assert sorted(p.name for p in cache.iterdir()) == [commits["tflite-micro"]]


def test_from_git_without_a_needed_clone_names_it_and_installs_nothing(tmp_path, git_clones):
    sources, dirs, commits = git_clones
    pin = Pin(ref=commits["tflite-micro"], manifest={}, sources=tuple(
        SourcePin(name=n, repo=REPOS[n], commit=commits[n], url="x") for n in pins_mod.SOURCE_NAMES))
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError, match="ARM-software/CMSIS-NN") as info:
        fetch(pin=pin, from_dirs=[d for n, d in dirs.items() if n != "cmsis_nn"], dest_root=cache)
    assert "github.com/ARM-software/CMSIS-NN" in info.value.hint
    assert _cache_listing(cache) == []
    with pytest.raises(ConfigError, match="not a git checkout"):
        fetch(pin=pin, from_dirs=[tmp_path], dest_root=cache)


def test_an_unpinned_ref_needs_allow_unverified_and_takes_deps_from_tflm_scripts(tmp_path, git_clones,
                                                                                 monkeypatch):
    sources, dirs, commits = git_clones
    ref = commits["tflite-micro"]
    with pytest.raises(ConfigError, match="no verified manifest") as info:
        fetch(ref=ref, from_dirs=list(dirs.values()), dest_root=tmp_path / "c")
    assert DEFAULT_REF in info.value.hint and "--allow-unverified" in info.value.hint
    result = fetch(ref=ref, from_dirs=list(dirs.values()), dest_root=tmp_path / "c", allow_unverified=True)
    assert not result.verified
    prov = json.loads((result.tree / PROVENANCE_FILE).read_text())
    got = {s["name"]: (s["commit"], s["tag"]) for s in prov["sources"]}
    assert got == {"tflite-micro": (ref, None), "flatbuffers": (commits["flatbuffers"], "v9.9.9"),
                   "gemmlowp": (commits["gemmlowp"], None), "ruy": (commits["ruy"], None),
                   "cmsis": (commits["cmsis"], None), "cmsis_nn": (commits["cmsis_nn"], None)}
    assert prov["verified"] is False and prov["pinned_manifest_sha256"] is None
    # the same files as the verified path would give
    files = {p.relative_to(result.tree).as_posix() for p in result.tree.rglob("*") if p.is_file()}
    assert files - {PROVENANCE_FILE, MANIFEST_FILE} == set(expected_tree(sources))
    with pytest.raises(ConfigError, match="40-hex"):
        fetch(ref="main", allow_unverified=True, from_dirs=list(dirs.values()), dest_root=tmp_path / "c")


# --- TFLM's scripts, patches, the shipped pin -------------------------------------------

def test_dependency_refs_read_tflm_scripts():
    files = fake_sources({"gemmlowp": "7" * 40, "cmsis_nn": "8" * 40})["tflite-micro"]
    deps = pins_mod.dependency_refs(lambda rel: files[rel])
    assert deps["gemmlowp"].ref == "7" * 40 and deps["gemmlowp"].tflm_md5 == "7e8191b24853d75de2af87622ad293ba"
    assert deps["flatbuffers"].ref == "v9.9.9"
    assert deps["cmsis"].ref == "c" * 40  # the CMSIS_6 archive, not Cortex_DFP's assigned after it
    assert deps["cmsis_nn"].ref == "8" * 40 and deps["cmsis_nn"].repo == "ARM-software/CMSIS-NN"
    broken = dict(files)
    broken[f"{MAKE}/ext_libs/cmsis_nn_download.sh"] = 'CMSIS_NN_URL="http://example.com/nn.zip"\n'
    with pytest.raises(ConfigError, match="cannot read the cmsis_nn archive"):
        pins_mod.dependency_refs(lambda rel: broken[rel])


def test_a_patch_that_does_not_apply_is_an_error(tmp_path):
    (tmp_path / "include/flatbuffers").mkdir(parents=True)
    (tmp_path / "include/flatbuffers/base.h").write_text("something else entirely\n")
    with pytest.raises(PatchError, match="does not apply to include/flatbuffers/base.h"):
        apply_unified_diff(tmp_path, FLATBUFFERS_PATCH)
    (tmp_path / "include/flatbuffers/base.h").write_text(BASE_H.replace("int base;", "int   base;"))
    apply_unified_diff(tmp_path, FLATBUFFERS_PATCH)  # whitespace-tolerant like git apply
    assert "LOCALE_INDEPENDENT 0" in (tmp_path / "include/flatbuffers/base.h").read_text()


def test_the_shipped_pin_is_complete_and_consistent():
    pin = pins_mod.load_pin(DEFAULT_REF)
    assert pin is not None and pin.ref == DEFAULT_REF
    assert [s.name for s in pin.sources] == list(pins_mod.SOURCE_NAMES)
    for s in pin.sources:
        assert pins_mod.is_commit(s.commit)
        assert s.url == f"https://github.com/{s.repo}/archive/{s.commit}.tar.gz"
    assert pin.source("flatbuffers").tag == "v25.9.23"
    assert pin.source("cmsis_nn").commit == "4ab83cc3cc98fb85ed6dafb55e8ca02f1628dcae"
    assert len(pin.manifest) > 500
    assert "third_party/cmsis_nn/Source/ConvolutionFunctions/arm_convolve_s8.c" in pin.manifest
    assert not any("kissfft" in p or p.endswith("_test.cc") for p in pin.manifest)
    raw = json.loads((pins_mod.PINS_DIR / f"{DEFAULT_REF}.json").read_text())
    assert raw["manifest_sha256"] == pin.manifest_sha256
    raw["manifest"]["LICENSE"] = "0" * 64
    with pytest.raises(ConfigError, match="does not match its manifest"):
        Pin.from_json(raw)


# --- locating a tree ---------------------------------------------------------------------

def _mini_tree(root: Path, provenance: bool = True) -> Path:
    (root / "tensorflow/lite/micro").mkdir(parents=True)
    (root / "tensorflow/lite/micro/micro_interpreter.h").write_text("")
    (root / "third_party/flatbuffers/include/flatbuffers").mkdir(parents=True)
    (root / "third_party/flatbuffers/include/flatbuffers/flatbuffers.h").write_text("")
    if provenance:
        (root / PROVENANCE_FILE).write_text(json.dumps({"ref": root.name}))
    return root


def test_locate_order_is_flag_then_env_then_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYML_TFLM_DIR", raising=False)
    assert tflm.locate_tree(None) is None
    with pytest.raises(ToolError) as info:
        tflm.require_tree(None)
    assert "tinyml tflm fetch" in info.value.hint and "--from" in info.value.hint
    assert str(tmp_path / "cache" / "tflm") in info.value.hint

    cached = _mini_tree(tmp_path / "cache" / "tflm" / DEFAULT_REF)
    _mini_tree(tmp_path / "cache" / "tflm" / ("9" * 40))
    assert tflm.locate_tree(None) == cached.resolve()          # the pinned ref first
    env_tree = _mini_tree(tmp_path / "env", provenance=False)
    monkeypatch.setenv("TINYML_TFLM_DIR", str(env_tree))
    assert tflm.locate_tree(None) == env_tree.resolve()
    assert tflm.find_tree(None).origin == "TINYML_TFLM_DIR"
    flag_tree = _mini_tree(tmp_path / "flag", provenance=False)
    assert tflm.locate_tree(flag_tree) == flag_tree.resolve()
    with pytest.raises(ConfigError, match="--tflm-dir: .*not a TFLM tree"):
        tflm.locate_tree(tmp_path)
    monkeypatch.setenv("TINYML_TFLM_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="TINYML_TFLM_DIR: .*does not exist"):
        tflm.locate_tree(None)


def test_a_tflm_checkout_with_downloads_is_a_tree(tmp_path):
    root = tmp_path / "tflite-micro"
    (root / "tensorflow/lite/micro/tools/make/downloads/flatbuffers/include/flatbuffers").mkdir(parents=True)
    (root / "tensorflow/lite/micro/tools/make/downloads/flatbuffers/include/flatbuffers/flatbuffers.h").write_text("")
    (root / "tensorflow/lite/micro/micro_interpreter.h").write_text("")
    tree = tflm.find_tree(root)
    assert tree.third_party == (root / "tensorflow/lite/micro/tools/make/downloads").resolve()
    assert tree.provenance is None


def test_fetch_without_a_pin_for_the_ref_lists_the_pinned_ones(tmp_path):
    with pytest.raises(ConfigError) as info:
        fetch(ref="e" * 40, dest_root=tmp_path)
    assert DEFAULT_REF in info.value.hint
    assert _cache_listing(tmp_path) == []

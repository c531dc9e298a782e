"""TensorFlow Lite Micro runtime: find or fetch a TFLM tree, build it once per
core configuration, render the TFLM part of a firmware project.

Finding a tree (`find_tree`, `locate_tree`, `require_tree`)
    --tflm-dir, else $TINYML_TFLM_DIR, else the cache:
    $TINYML_CACHE_DIR/tflm/<ref> (default ~/.cache/tinyml/tflm/<ref>, the pinned
    ref first). A tree is a directory with tensorflow/lite/micro/ and the
    third-party headers in third_party/ (what `tinyml tflm fetch` and TFLM's
    create_tflm_tree.py make) or in tensorflow/lite/micro/tools/make/downloads/
    (a tflite-micro checkout after `make third_party_downloads`). A command that
    needs TFLM and finds none raises ToolError naming `tinyml tflm fetch` and
    `tinyml tflm fetch --from DIR...`.

What is pinned (pins.py, pins/<ref>.json)
    One tflite-micro commit (DEFAULT_REF, main of 2026-08-20) and, for each
    dependency, the commit that TFLM's own download scripts name for it at that
    commit (third_party_downloads.inc, ext_libs/cmsis_download.sh,
    ext_libs/cmsis_nn_download.sh; read by code, not copied by hand):
    flatbuffers v25.9.23 (1872409707...), gemmlowp 719139ce75..., ruy
    d37128311b..., CMSIS_6 5782d6f805..., CMSIS-NN 4ab83cc3cc.... The pin also
    records the archive URLs (https://github.com/<repo>/archive/<commit>.tar.gz),
    TFLM's own zip URLs and MD5s for reference, and a manifest: the SHA-256 of
    every file of the assembled tree (618 files), computed from those commits.

How fetched sources are checked (fetch.py)
    GitHub's archive tarballs are generated on the fly and their bytes are not
    guaranteed stable, and their SHA-256 could not be learned where tinyml was
    pinned; so the check is on content, not on archive bytes: after the files
    are selected (tree.py, the same selection as TFLM's project generation for
    cortex_m_generic + cmsis_nn) and TFLM's flatbuffers.patch is applied, every
    file's SHA-256 must equal the pinned manifest, and no file may be missing or
    extra. The download path (urllib over HTTPS, with progress, refusing short
    bodies) and the --from path (`git archive` of the pinned commits from local
    clones or bare repositories) are verified the same way. A pin may also name
    an archive_sha256, which is then checked before extraction. Everything is
    assembled in a temporary sibling and renamed into the cache only when it
    matches: an interrupted download, a checksum mismatch or a missing archive
    leaves the cache as it was. tinyml-tflm.json in the tree records the ref,
    method, sources (commit, URL or git dir, archive SHA-256) and manifest hash;
    tinyml-manifest.sha256 is the manifest in `sha256sum -c` format. Another
    --ref can be assembled with --allow-unverified (dependencies read from that
    revision's scripts, recorded as unverified); `python -m
    tinyml.runtimes.tflm.pins TREE` turns such a tree into a new pin.

Building (library.py)
    A static library per (tree content, compiler, core flags, optimization,
    kernel set, error strings), cached in $TINYML_CACHE_DIR/tflm/lib/<key>/ and
    built with concurrent arm-none-eabi-gcc/g++ processes under a file lock;
    flags as TFLM's Makefile (cortex_m_generic, release_with_logs); CMSIS-NN
    kernels replace the reference ones of the same name unless kernels="reference".
    The core flags are sorted into one canonical order first (the same core
    named in another order is the same library). Per-file workarounds for
    compiler bugs (FILE_OPT_WORKAROUNDS: gcc 12.2's assembler rejects
    resize_nearest_neighbor.cc at -O2 on MVE-F cores, so -O3 there) are part
    of the key. A build that fails is remembered in lib/failed/<key>/ (record +
    the failing file's log) and raised again without compiling (force=True /
    `tinyml tflm build --force` retries).

Arena (arena.py)
    The firmware's arena is TFLM's arena_used_bytes from one run of a
    calibration firmware (generous arena) on a QEMU board with the same core
    flags, + 2% + 256 B; recorded in $TINYML_CACHE_DIR/tflm/arena/ per model
    SHA-256 and library key, and read by the fit check. Without such a board
    or QEMU: the host interpreter's figure + 10% + 1 KB, said in model.h.

Firmware (firmware.py)
    model/model_data.c (the .tflite as an aligned const array), model/model.h and
    model/tflm_model.cc (the op resolver, arena, interpreter, tinyml_init /
    tinyml_invoke / arena used, per-operator profile), tflm/libtflm.a and the
    headers it needs: the same harness main.c, clock and console as the aot runtime.
"""

from __future__ import annotations

from .fetch import cache_root, tflm_cache_dir
from .locate import ENV_VAR, find_tree, how_to_get_tflm, locate_tree, require_tree
from .pins import DEFAULT_REF
from .tree import TFLMTree

__all__ = ["find_tree", "locate_tree", "require_tree", "how_to_get_tflm", "TFLMTree",
           "cache_root", "tflm_cache_dir", "DEFAULT_REF", "ENV_VAR"]

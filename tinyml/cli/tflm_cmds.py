"""`tinyml tflm`: get a TensorFlow Lite Micro tree and see which one is used."""

from __future__ import annotations

from pathlib import Path

import click

from .common import console, emit_json, json_option


def _export_tflm_dir(ctx, param, value):
    """--tflm-dir is $TINYML_TFLM_DIR for this run: every stage that looks
    for TFLM (the runtime choice, the firmware render) then finds the same tree."""
    if value is None:
        return None
    import os

    from ..runtimes.tflm.tree import explain_not_a_tree, inspect_tree

    if inspect_tree(value, "--tflm-dir") is None:
        raise click.BadParameter(explain_not_a_tree(value) + ".", ctx=ctx, param=param)
    os.environ["TINYML_TFLM_DIR"] = str(value.resolve())
    return value


def _export_tflm_kernels(ctx, param, value):
    if value is not None:
        import os

        os.environ["TINYML_TFLM_KERNELS"] = value
    return value


def tflm_dir_option(func):
    """--tflm-dir and --tflm-kernels for every command that may use TFLM."""
    func = click.option(
        "--tflm-kernels", type=click.Choice(["cmsis_nn", "reference"]), default=None,
        callback=_export_tflm_kernels, expose_value=False, is_eager=True,
        help="TFLite Micro kernels: cmsis_nn (default, $TINYML_TFLM_KERNELS) or reference.")(func)
    return click.option(
        "--tflm-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        callback=_export_tflm_dir, expose_value=False, is_eager=True,
        help="TFLite Micro tree to use (default: $TINYML_TFLM_DIR, else the one "
             "`tinyml tflm fetch` put in the cache).")(func)


RUNTIME_HELP = ("auto (default): tflm when a TFLite Micro tree is found, else aot; aot: C generated "
                "ahead of time by tinyml; tflm: TensorFlow Lite Micro with CMSIS-NN.")


def runtime_choice(runtime: str, notify=None):
    """Resolve --runtime (auto/aot/tflm); a fallback from auto is said in one line."""
    from ..runtimes import resolve_runtime

    choice = resolve_runtime(runtime)
    if choice.note and notify is not None:
        notify(choice.note)
    return choice


def bench_runtime_choices(runtimes, notify=None) -> list:
    """bench compares runtimes: `auto` there means TFLM (+ CMSIS-NN) and aot side
    by side when a TFLM tree is found, else aot alone (said in one line)."""
    from ..runtimes import RuntimeChoice

    out = []
    for requested in dict.fromkeys(runtimes or ("auto",)):
        choice = runtime_choice(requested, notify)
        if requested == "auto" and choice.runtime == "tflm":
            out += [choice, RuntimeChoice("aot", "auto")]
        else:
            out.append(choice)
    unique: dict[str, object] = {}
    for c in out:
        unique.setdefault(c.runtime, c)
    return list(unique.values())


@click.group("tflm")
def tflm() -> None:
    """TensorFlow Lite Micro: fetch the pinned sources, show which tree is used.

    \b
    The tflm runtime needs a TFLM source tree. It is found at --tflm-dir, else
    $TINYML_TFLM_DIR, else in the cache ($TINYML_CACHE_DIR or ~/.cache/tinyml)
    where `tinyml tflm fetch` puts it.

    \b
    Example:
      tinyml tflm fetch
      tinyml tflm info
    """


@tflm.command("fetch")
@click.option("--ref", default=None,
              help="tflite-micro commit (default: the one tinyml pins and verifies).")
@click.option("--from", "from_dirs", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Assemble from local git clones (checkouts or bare) of tflite-micro, flatbuffers, "
                   "gemmlowp, ruy, CMSIS_6 and CMSIS-NN instead of downloading; repeat per clone.")
@click.option("--force", is_flag=True, help="Assemble again even if the cache has the tree.")
@click.option("--allow-unverified", is_flag=True,
              help="Accept a --ref tinyml has no manifest for (its own scripts name the dependencies; "
                   "the tree is recorded as unverified).")
@json_option
def fetch(ref, from_dirs, force, allow_unverified, as_json):
    """Download (or assemble from local clones) a verified TFLM source tree into the cache.

    \b
    tflite-micro and the dependency commits TFLM pins for it (flatbuffers,
    gemmlowp, ruy, CMSIS_6 core headers, CMSIS-NN) are fetched as archives
    over HTTPS, or exported from local git clones with --from; the assembled
    tree must match tinyml's SHA-256 manifest file for file before it is
    moved into the cache. Nothing is left behind when anything fails.

    \b
    Examples:
      tinyml tflm fetch
      tinyml tflm fetch --from ~/src/tflite-micro --from ~/src/flatbuffers --from ~/src/gemmlowp \\
                        --from ~/src/ruy --from ~/src/CMSIS_6 --from ~/src/CMSIS-NN
    """
    from ..progress import cli_progress
    from ..runtimes.tflm.fetch import fetch as do_fetch

    with cli_progress(enabled=not as_json) as sink:
        result = do_fetch(ref=ref, from_dirs=list(from_dirs) or None, force=force,
                          allow_unverified=allow_unverified, progress=sink)
    record = {"tree": result.tree, "ref": result.ref, "method": result.method,
              "verified": result.verified, "file_count": result.file_count,
              "tree_bytes": result.tree_bytes, "manifest_sha256": result.manifest_sha256,
              "seconds": round(result.seconds, 2)}
    if as_json:
        emit_json(record)
        return
    how = {"download": "downloaded", "git": "assembled from local git clones",
           "cached": "already in the cache"}[result.method]
    check = "matches tinyml's pinned manifest" if result.verified else "UNVERIFIED (no pinned manifest)"
    console().print(f"TFLM {result.ref[:12]} {how}: {result.tree}\n"
                    f"{result.file_count} files, {result.tree_bytes / 1e6:.1f} MB; {check} "
                    f"(sha256 {result.manifest_sha256[:16]}...)", markup=False)


@tflm.command("build")
@click.option("--board", required=True, help="Board whose core and FPU the library is built for.")
@click.option("--kernels", type=click.Choice(["cmsis_nn", "reference"]), default="cmsis_nn", show_default=True,
              help="cmsis_nn: CMSIS-NN kernels where TFLM has them (OPTIMIZED_KERNEL_DIR=cmsis_nn); "
                   "reference: TFLM's portable kernels only.")
@click.option("--opt", type=click.Choice(["-Os", "-O2", "-O3"]), default="-Os", show_default=True,
              help="-Os: TFLM's release levels (core -Os, kernels -O2); -O2/-O3: everything at that level.")
@click.option("--strip-error-strings", is_flag=True,
              help="TFLM's BUILD_TYPE=release (-DTF_LITE_STRIP_ERROR_STRINGS): smaller, no log text, "
                   "no per-operator profile.")
@click.option("--force", is_flag=True, help="Build again even if the cache has this library.")
@click.option("--jobs", "-j", type=int, default=None, help="Parallel compiler processes (default: CPU count).")
@click.option("--boards-dir", "boards_dirs", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Extra folder of board YAML files.")
@tflm_dir_option
@json_option
def build(board, kernels, opt, strip_error_strings, force, jobs, boards_dirs, as_json):
    """Build (or find in the cache) the TFLM static library for a board's core.

    \b
    Firmware builds do this on their own the first time; run it ahead (e.g. in
    CI, with a cached $TINYML_CACHE_DIR) to keep it out of the first build.

    \b
    Example:
      tinyml tflm build --board mps2-an386
      tinyml tflm build --board nucleo-f767zi --kernels reference --json
    """
    from ..boards import core_flags, load_board
    from ..progress import cli_progress
    from ..runtimes.tflm import require_tree
    from ..runtimes.tflm.firmware import library_config
    from ..runtimes.tflm.library import build_library

    tree = require_tree(None)
    b = load_board(board, boards_dirs=list(boards_dirs) or None)
    config = library_config(core_flags(b), opt, kernels, strip_error_strings)
    with cli_progress(enabled=not as_json) as sink:
        lib = build_library(tree, config, jobs=jobs, progress=sink, force=force)
    record = {"library": lib.path, "key": lib.key, "reused": lib.reused, "kernels": kernels,
              "core_flags": list(config.core_flags), "core_opt": config.core_opt,
              "kernel_opt": config.kernel_opt, "strip_error_strings": strip_error_strings,
              "object_count": lib.object_count, "build_seconds": lib.build_seconds,
              "library_bytes": lib.path.stat().st_size, "tree": tree.root}
    if as_json:
        emit_json(record)
        return
    what = f"TFLM library for {b.name} ({' '.join(config.core_flags)}, {kernels} kernels)"
    how = (f"from the cache (built once, in {lib.build_seconds:.0f} s)" if lib.reused
           else f"built in {lib.build_seconds:.0f} s from {lib.object_count} files")
    console().print(f"{what} {how}: {lib.path} ({record['library_bytes']:,} bytes)", markup=False)


@tflm.command("info")
@click.option("--tflm-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Look at this tree instead of the one found by default.")
@click.option("--verify", is_flag=True,
              help="Hash every file again and compare with the tree's manifest.")
@json_option
def info(tflm_dir, verify, as_json):
    """Which TFLM tree is used, where it came from, and the cached libraries.

    \b
    Example:
      tinyml tflm info
      TINYML_TFLM_DIR=~/tflm-tree tinyml tflm info --json
    """
    from ..runtimes.tflm import require_tree
    from ..runtimes.tflm.info import tree_info

    tree = require_tree(tflm_dir)
    record = tree_info(tree, verify=verify)
    if as_json:
        emit_json(record)
        return
    prov = record["provenance"] or {}
    out = console()
    out.print(f"TFLM tree: {record['root']}  (found via {record['origin']})", markup=False)
    if prov:
        check = "verified against tinyml's pinned manifest" if prov.get("verified") else "unverified"
        out.print(f"ref {prov.get('ref')}, {prov.get('method')}, {prov.get('file_count')} files, "
                  f"{prov.get('tree_bytes', 0) / 1e6:.1f} MB, {check}; manifest sha256 "
                  f"{prov.get('manifest_sha256')}", markup=False)
        for s in prov.get("sources", []):
            tag = f" ({s['tag']})" if s.get("tag") else ""
            out.print(f"  {s['name']:<12} {s['repo']:<24} {s['commit']}{tag}\n"
                      f"  {'':<12} from {s.get('git_dir') or s.get('url')}", markup=False)
    else:
        out.print("not assembled by tinyml (no tinyml-tflm.json): provenance unknown", markup=False)
    if record.get("verify") is not None:
        v = record["verify"]
        out.print(("manifest check: OK, every file matches" if v["ok"] else
                   f"manifest check: {len(v['problems'])} difference(s), first: {v['problems'][0]}"),
                  markup=False)
    libs = record["libraries"]
    if not libs:
        out.print("no cached TFLM libraries yet (the first tflm firmware build makes one)")
        return
    out.print(f"cached libraries ({record['libraries_dir']}):", markup=False)
    for lib in libs:
        # one line each (a table would truncate the core flags); --json has every field in full
        out.print(f"  {lib['key'][:12]}  tree {(lib['tree_ref'] or '?')[:12]}  {lib['kernels']}  "
                  f"{' '.join(lib['core_flags'])}  {lib['opt']}  {lib['object_count']} objects  "
                  f"{lib['library_bytes']:,} B  built in {lib['build_seconds']:.0f} s", markup=False,
                  soft_wrap=True)

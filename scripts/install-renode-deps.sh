#!/usr/bin/env bash
# What a Renode folder needs to run tinyml's suites, installed when missing:
#  - Debian's Mono (a Renode built for Mono, as ../shared/renode is: see its TINYML-BUILD.md);
#  - renode-test's pinned Python packages (tests/requirements.txt) in a venv of their own, so its
#    pins (robotframework 6.1, psutil 5.9.3, ...) cannot disturb tinyml's. tinyml runs renode-test
#    with that venv first on PATH when TINYML_RENODE_VENV names it (`make test` sets it).
# Usage: install-renode-deps.sh RENODE_DIR VENV [PYTHON]
set -euo pipefail
renode_dir=$1
venv=$2
python=${3:-python3}

if [ ! -x "$renode_dir/renode-test" ]; then
  echo "Renode folder $renode_dir has no renode-test launcher; set TINYML_RENODE_DIR to a Renode portable folder." >&2
  exit 1
fi

apt_missing=()
if [ -f "$renode_dir/output/bin/Release/Renode.exe" ]; then     # a Mono build
  # each of the four libmono packages is needed: Renode aborts at start-up without any one of them
  for pkg in mono-runtime libmono-posix4.0-cil libmono-microsoft-csharp4.0-cil \
             libmono-system-xml-linq4.0-cil libmono-system-drawing4.0-cil; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || apt_missing+=("$pkg")
  done
fi
# psutil 5.9.3 has no wheel for Python 3.11: pip builds it, which needs a C compiler and Python.h
include=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
[ -f "$include/Python.h" ] || apt_missing+=(python3-dev)
command -v gcc >/dev/null || apt_missing+=(gcc)

if [ ${#apt_missing[@]} -gt 0 ]; then
  bash "$(dirname "$0")/apt-install.sh" Renode "${apt_missing[@]}"
fi

requirements="$renode_dir/tests/requirements.txt"
stamp="$venv/.installed"
# renode-test's requirements include files of Renode's tools folder: the stamp covers them all
want=$(cd "$renode_dir" && cat tests/requirements.txt tools/*/requirements.txt 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "installing renode-test's Python packages into $venv"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
# -r paths inside requirements.txt are relative to it, which pip resolves from the file's folder
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
echo "$want" > "$stamp"

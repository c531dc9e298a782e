#!/usr/bin/env bash
# Installs Debian packages with apt-get (through sudo when not root); the one install step the
# set-up scripts share. Usage: apt-install.sh WHAT-FOR PACKAGE...
set -euo pipefail
what=$1
shift
if ! command -v apt-get >/dev/null; then
  echo "$what needs these system packages, and this system has no apt-get to install them: $*." >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "installing $* needs root, and sudo is not available." >&2; exit 1; }
  sudo=(sudo)
fi
echo "installing system packages for $what: $*"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null

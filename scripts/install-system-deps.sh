#!/usr/bin/env bash
# Installs the system toolchain tinyml needs when it is missing:
# arm-none-eabi-gcc + newlib (+ libstdc++ for TFLite Micro) and qemu-system-arm.
set -euo pipefail

packages=(gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm dataset-fashion-mnist espeak-ng openocd)
missing=()
command -v arm-none-eabi-gcc >/dev/null || missing+=(gcc-arm-none-eabi)
[ -d /usr/lib/arm-none-eabi/newlib ] || [ -d /usr/lib/arm-none-eabi/lib ] || missing+=(libnewlib-arm-none-eabi)
[ -d /usr/lib/arm-none-eabi/include/c++ ] || missing+=(libstdc++-arm-none-eabi-newlib)
command -v qemu-system-arm >/dev/null || missing+=(qemu-system-arm)
[ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] || missing+=(dataset-fashion-mnist)  # examples/fashion
command -v espeak-ng >/dev/null || missing+=(espeak-ng)  # examples/kws
command -v openocd >/dev/null || missing+=(openocd)  # tinyml flash --probe openocd

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "Install the GNU Arm Embedded toolchain (arm-none-eabi-gcc with newlib) and qemu-system-arm with your package manager." >&2
fi
exec bash "$(dirname "$0")/apt-install.sh" tinyml "${missing[@]}"

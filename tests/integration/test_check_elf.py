"""elf_sizes agrees with arm-none-eabi-size on a real cross-compiled image."""

from __future__ import annotations

import re
import subprocess

import pytest

from tinyml.check import elf_sizes

pytestmark = pytest.mark.needs_toolchain

SOURCE = """
const unsigned char table[3000] = {1};
unsigned char buffer[5000];
int counter = 7;
int main(void) { buffer[counter] = table[counter]; return buffer[counter]; }
"""


def test_elf_sizes_match_arm_none_eabi_size(tmp_path):
    src = tmp_path / "fw.c"
    src.write_text(SOURCE)
    elf = tmp_path / "fw.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-Os", "--specs=nano.specs",
                    "--specs=nosys.specs", "-o", elf, src], check=True, timeout=120)
    # Berkeley format: text = code + read-only data, data, bss.
    berkeley = subprocess.run(["arm-none-eabi-size", elf], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(x) for x in re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)", berkeley.splitlines()[1]).groups())
    s = elf_sizes(elf)
    assert (s.text + s.rodata, s.data, s.bss) == (text, data, bss)
    assert s.flash_bytes == text + data and s.ram_bytes == data + bss
    assert s.rodata >= 3000 and s.bss >= 5000

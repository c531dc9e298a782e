"""UF2 files for USB mass-storage bootloaders (RP2040 boot ROM, Adafruit nRF52840, tinyuf2).

Format: github.com/microsoft/uf2 README. A file is a sequence of independent
512-byte blocks, every field little-endian uint32:

    offset  size  field
    0       4     magic start 0 = 0x0A324655 ("UF2\\n")
    4       4     magic start 1 = 0x9E5D5157
    8       4     flags (0x00002000: the family ID field is present)
    12      4     target address in flash
    16      4     payload size (256 here)
    20      4     block number, from 0
    24      4     total number of blocks in the file
    28      4     family ID (or file size, or zero, depending on flags)
    32      476   data: the payload followed by zero padding
    508     4     magic end = 0x0AB16F30

Each block is self-contained so a bootloader can flash it the moment the USB
write arrives, in whatever order the host OS writes them; a bootloader drops
blocks whose family ID is not its own. We always write 256-byte payloads at
256-byte-aligned addresses: the spec calls 256 "always correct", and the
RP2040 boot ROM requires exactly that (it programs 256-byte flash pages).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import ConfigError

MAGIC_START0 = 0x0A324655
MAGIC_START1 = 0x9E5D5157
MAGIC_END = 0x0AB16F30

FLAG_NOT_MAIN_FLASH = 0x00000001
FLAG_FILE_CONTAINER = 0x00001000
FLAG_FAMILY_ID_PRESENT = 0x00002000
FLAG_MD5_PRESENT = 0x00004000
FLAG_EXTENSION_TAGS = 0x00008000

BLOCK_BYTES = 512
HEADER_BYTES = 32
DATA_AREA_BYTES = 476
PAYLOAD_BYTES = 256

_HEADER = struct.Struct("<8I")
_MAX_GAP_BYTES = 16 << 20  # a jump this large means two unrelated regions, not one flash image
_END = struct.Struct("<I")

# Family IDs from utils/uf2families.json of the UF2 repository (the master list):
# a bootloader ignores every block that does not carry its own.
FAMILY_IDS: dict[str, int] = {
    "ATMEGA32": 0x16573617,
    "SAML21": 0x1851780A,
    "NRF52": 0x1B57745F,
    "ESP32": 0x1C5F21B0,
    "STM32L1": 0x1E1F432D,
    "STM32L0": 0x202E3A91,
    "STM32WL": 0x21460FF0,
    "LPC55": 0x2ABC77EC,
    "STM32G0": 0x300F5633,
    "GD32F350": 0x31D228C6,
    "STM32L5": 0x04240BDF,
    "STM32G4": 0x4C71240A,
    "MIMXRT10XX": 0x4FB2D5BD,
    "STM32F7": 0x53B80F00,
    "SAMD51": 0x55114460,
    "STM32F4": 0x57755A57,
    "FX2": 0x5A18069B,
    "STM32F2": 0x5D1A0A2E,
    "STM32F1": 0x5EE21072,
    "NRF52833": 0x621E937A,
    "STM32F0": 0x647824B6,
    "SAMD21": 0x68ED2B88,
    "STM32F3": 0x6B846188,
    "STM32F407": 0x6D0922FA,
    "STM32H7": 0x6DB66082,
    "STM32WB": 0x70D16653,
    "ESP8266": 0x7EAB61ED,
    "KL32L2": 0x7F83E793,
    "STM32F407VG": 0x8FB060FE,
    "NRF52840": 0xADA52840,
    "ESP32S2": 0xBFDD4EEE,
    "ESP32S3": 0xC47E5767,
    "ESP32C3": 0xD42BA06C,
    "RP2040": 0xE48BFF56,
    "STM32L4": 0x00FF6919,
}
FAMILY_NAMES: dict[int, str] = {v: k for k, v in FAMILY_IDS.items()}


def family_id(value: int | str) -> int:
    """A family ID from an integer, "0x..." text or a short name such as "RP2040"."""
    if isinstance(value, bool):
        raise ConfigError(f"UF2 family {value!r} is neither a number nor a family name.")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if text.upper() in FAMILY_IDS:
            return FAMILY_IDS[text.upper()]
        try:
            number = int(text, 0)
        except ValueError:
            raise ConfigError(
                f"UF2 family {value!r} is neither a number nor a known family name "
                f"({', '.join(sorted(FAMILY_IDS))}).") from None
    if not 0 <= number <= 0xFFFFFFFF:
        raise ConfigError(f"UF2 family ID {number:#x} does not fit in 32 bits.")
    return number


def family_label(fid: int | None) -> str:
    if fid is None:
        return "none"
    name = FAMILY_NAMES.get(fid)
    return f"{fid:#010x} ({name})" if name else f"{fid:#010x}"


@dataclass(frozen=True)
class Uf2Block:
    flags: int
    target_address: int
    payload_bytes: int
    block_number: int
    total_blocks: int
    family_id: int | None          # None when the family flag is clear (the field is then file size / 0)
    payload: bytes

    def pack(self) -> bytes:
        if len(self.payload) != self.payload_bytes or self.payload_bytes > DATA_AREA_BYTES:
            raise ValueError("payload length does not match payload_bytes or exceeds 476 bytes")
        word7 = self.family_id if self.family_id is not None else 0
        header = _HEADER.pack(MAGIC_START0, MAGIC_START1, self.flags, self.target_address,
                              self.payload_bytes, self.block_number, self.total_blocks, word7)
        padding = bytes(DATA_AREA_BYTES - self.payload_bytes)
        return header + self.payload + padding + _END.pack(MAGIC_END)


def bin_to_uf2(image: bytes, base_address: int, family: int | None) -> bytes:
    """Cut a flat flash image that starts at base_address into 256-byte UF2 blocks.

    The last payload is zero-padded to 256 bytes, as the reference converter
    (uf2conv.py) does, so every block programs one whole 256-byte page.
    """
    if not image:
        raise ConfigError("the firmware image is empty; there is nothing to put in a UF2 file.")
    if base_address % PAYLOAD_BYTES != 0:
        raise ConfigError(
            f"flash origin {base_address:#x} is not a multiple of {PAYLOAD_BYTES}; UF2 bootloaders "
            f"program whole {PAYLOAD_BYTES}-byte pages at page-aligned addresses.")
    end = base_address + len(image)
    if end > 0x1_0000_0000:
        raise ConfigError(f"the image runs past the 32-bit address space ({end:#x}).")
    flags = FLAG_FAMILY_ID_PRESENT if family is not None else 0
    total = (len(image) + PAYLOAD_BYTES - 1) // PAYLOAD_BYTES
    blocks = []
    for number in range(total):
        offset = number * PAYLOAD_BYTES
        chunk = image[offset:offset + PAYLOAD_BYTES].ljust(PAYLOAD_BYTES, b"\x00")
        blocks.append(Uf2Block(flags, base_address + offset, PAYLOAD_BYTES, number, total,
                               family, chunk).pack())
    return b"".join(blocks)


def parse_uf2(data: bytes, *, source: str = "UF2 file") -> list[Uf2Block]:
    """Read and validate every block; raises ConfigError naming the first bad block.

    A file may be several UF2 files concatenated (one per family, as the spec
    allows): each run must number its blocks 0..total-1 with one total.
    """
    if not data:
        raise ConfigError(f"{source} is empty.")
    if len(data) % BLOCK_BYTES != 0:
        raise ConfigError(f"{source} is {len(data)} bytes, not a multiple of {BLOCK_BYTES}-byte UF2 blocks.")
    blocks: list[Uf2Block] = []
    run_start = 0
    for index in range(len(data) // BLOCK_BYTES):
        raw = data[index * BLOCK_BYTES:(index + 1) * BLOCK_BYTES]
        m0, m1, flags, addr, size, number, total, word7 = _HEADER.unpack_from(raw, 0)
        (m_end,) = _END.unpack_from(raw, BLOCK_BYTES - 4)
        where = f"{source} block {index}"
        if m0 != MAGIC_START0 or m1 != MAGIC_START1:
            raise ConfigError(f"{where} has start magic {m0:#010x} {m1:#010x}, "
                              f"not {MAGIC_START0:#010x} {MAGIC_START1:#010x}.")
        if m_end != MAGIC_END:
            raise ConfigError(f"{where} has end magic {m_end:#010x}, not {MAGIC_END:#010x}.")
        if size > DATA_AREA_BYTES:
            raise ConfigError(f"{where} claims a {size}-byte payload; at most {DATA_AREA_BYTES} fit.")
        if size % 4 or addr % 4:
            raise ConfigError(f"{where} has payload size {size} at {addr:#x}; both must be 4-byte aligned.")
        family = word7 if flags & FLAG_FAMILY_ID_PRESENT else None
        block = Uf2Block(flags, addr, size, number, total, family,
                         bytes(raw[HEADER_BYTES:HEADER_BYTES + size]))
        if number == 0:
            _check_run_complete(blocks[run_start:], source)
            run_start = len(blocks)
        else:
            prev = blocks[-1] if len(blocks) > run_start else None
            if prev is None or number != prev.block_number + 1:
                raise ConfigError(f"{where} is numbered {number}; block numbers must run 0, 1, 2, ...")
            if total != prev.total_blocks or family != prev.family_id:
                raise ConfigError(f"{where} changes the block total or family in the middle of a file.")
        if number >= total:
            raise ConfigError(f"{where} is numbered {number} but its file has {total} blocks.")
        blocks.append(block)
    _check_run_complete(blocks[run_start:], source)
    return blocks


def _check_run_complete(run: list[Uf2Block], source: str) -> None:
    if run and len(run) != run[0].total_blocks:
        raise ConfigError(f"{source} says a file has {run[0].total_blocks} blocks, "
                          f"but only {len(run)} follow; it is truncated.")


@dataclass(frozen=True)
class Uf2Image:
    base_address: int
    image: bytes
    family_id: int | None
    blocks: int


def uf2_to_bin(data: bytes, *, family: int | None = None, source: str = "UF2 file") -> Uf2Image:
    """Rebuild the flat image a bootloader would program (the round-trip reader).

    With `family`, blocks of other families are skipped the way a bootloader
    skips them. Blocks must be in ascending, non-overlapping address order;
    gaps are filled with zeros (what uf2conv.py does).
    """
    blocks = parse_uf2(data, source=source)
    chosen = [b for b in blocks if not b.flags & FLAG_NOT_MAIN_FLASH
              and (family is None or b.family_id == family)]
    if not chosen:
        raise ConfigError(f"{source} has no flashable block for family {family_label(family)}.")
    families = {b.family_id for b in chosen}
    if len(families) > 1:
        raise ConfigError(f"{source} mixes families {', '.join(family_label(f) for f in families)}; "
                          "name the one to extract.")
    base = chosen[0].target_address
    out = bytearray()
    for block in chosen:
        cursor = base + len(out)
        if block.target_address < cursor:
            raise ConfigError(f"{source} block {block.block_number} at {block.target_address:#x} "
                              f"overlaps or precedes the previous block (ends at {cursor:#x}).")
        gap = block.target_address - cursor
        if gap > _MAX_GAP_BYTES:
            raise ConfigError(f"{source} block {block.block_number} jumps {gap} bytes past the previous "
                              f"one; that is not one contiguous flash image.")
        out += bytes(gap)
        out += block.payload
    return Uf2Image(base, bytes(out), chosen[0].family_id, len(blocks))

"""UF2 writer/reader against the format of github.com/microsoft/uf2 (README)."""

import struct

import pytest

from tinyml import uf2
from tinyml.errors import ConfigError


def test_spec_constants():
    # The three magic numbers, the family flag and the block geometry of the spec.
    assert uf2.MAGIC_START0 == 0x0A324655
    assert struct.pack("<I", uf2.MAGIC_START0) == b"UF2\n"
    assert uf2.MAGIC_START1 == 0x9E5D5157
    assert uf2.MAGIC_END == 0x0AB16F30
    assert uf2.FLAG_FAMILY_ID_PRESENT == 0x00002000
    assert (uf2.BLOCK_BYTES, uf2.HEADER_BYTES, uf2.DATA_AREA_BYTES) == (512, 32, 476)
    assert uf2.HEADER_BYTES + uf2.DATA_AREA_BYTES + 4 == uf2.BLOCK_BYTES


def test_family_ids_from_the_master_list():
    assert uf2.FAMILY_IDS["RP2040"] == 0xE48BFF56
    assert uf2.FAMILY_IDS["NRF52840"] == 0xADA52840
    assert uf2.FAMILY_IDS["STM32F4"] == 0x57755A57
    assert uf2.FAMILY_IDS["SAMD51"] == 0x55114460
    assert len(set(uf2.FAMILY_IDS.values())) == len(uf2.FAMILY_IDS)
    assert uf2.family_id("rp2040") == 0xE48BFF56
    assert uf2.family_id("0xada52840") == 0xADA52840
    assert uf2.family_id(0xADA52840) == 0xADA52840
    assert uf2.family_label(0xE48BFF56) == "0xe48bff56 (RP2040)"
    with pytest.raises(ConfigError, match="neither a number nor a known family"):
        uf2.family_id("not-a-chip")
    with pytest.raises(ConfigError, match="32 bits"):
        uf2.family_id(1 << 32)


def test_tiny_image_matches_hand_computed_block():
    image = bytes(range(1, 11))  # 10 bytes
    out = uf2.bin_to_uf2(image, 0x10000000, 0xE48BFF56)
    expected = bytes.fromhex(
        "55 46 32 0a"      # magic start 0, "UF2\n"
        "57 51 5d 9e"      # magic start 1
        "00 20 00 00"      # flags: family ID present
        "00 00 00 10"      # target address 0x10000000
        "00 01 00 00"      # payload size 256
        "00 00 00 00"      # block 0
        "01 00 00 00"      # of 1
        "56 ff 8b e4"      # family 0xe48bff56 (RP2040)
        "01 02 03 04 05 06 07 08 09 0a"
    ) + bytes(476 - 10) + bytes.fromhex("30 6f b1 0a")
    assert len(out) == 512
    assert out == expected


def test_block_layout_addresses_and_padding_for_three_blocks():
    image = bytes((i * 7 + 3) & 0xFF for i in range(600))
    base = 0x00026000
    out = uf2.bin_to_uf2(image, base, 0xADA52840)
    assert len(out) == 3 * 512
    for n in range(3):
        block = out[n * 512:(n + 1) * 512]
        m0, m1, flags, addr, size, number, total, fam = struct.unpack_from("<8I", block)
        assert (m0, m1) == (0x0A324655, 0x9E5D5157)
        assert struct.unpack_from("<I", block, 508)[0] == 0x0AB16F30
        assert flags == 0x2000 and fam == 0xADA52840
        assert addr == base + 256 * n           # address continuity, page aligned
        assert addr % 256 == 0
        assert size == 256 and number == n and total == 3
        payload = block[32:32 + 256]
        assert payload == image[256 * n:256 * (n + 1)].ljust(256, b"\x00")
        assert block[32 + 256:508] == bytes(476 - 256)
    # last block: 600 - 512 = 88 data bytes, then zeros
    assert out[2 * 512 + 32 + 88:2 * 512 + 32 + 256] == bytes(256 - 88)


def test_exact_multiple_of_page_has_no_extra_block():
    assert len(uf2.bin_to_uf2(b"\xAA" * 512, 0x08000000, None)) == 2 * 512


def test_no_family_leaves_flag_and_field_clear():
    block = uf2.bin_to_uf2(b"\x01\x02\x03\x04", 0x2000, None)
    _, _, flags, _, _, _, _, word7 = struct.unpack_from("<8I", block)
    assert flags == 0 and word7 == 0
    parsed = uf2.parse_uf2(block)
    assert parsed[0].family_id is None


def test_round_trip_restores_image_and_base():
    image = bytes((i * 31) & 0xFF for i in range(5000))
    out = uf2.bin_to_uf2(image, 0x10000000, 0xE48BFF56)
    back = uf2.uf2_to_bin(out)
    assert back.base_address == 0x10000000
    assert back.family_id == 0xE48BFF56
    assert back.blocks == 20
    # zero padding of the final page is part of what the bootloader programs
    assert back.image[:len(image)] == image
    assert back.image[len(image):] == bytes(20 * 256 - len(image))


def test_concatenated_families_select_one_like_a_bootloader():
    a = uf2.bin_to_uf2(b"\x11" * 300, 0x10000000, uf2.FAMILY_IDS["RP2040"])
    b = uf2.bin_to_uf2(b"\x22" * 100, 0x00026000, uf2.FAMILY_IDS["NRF52840"])
    both = a + b
    assert len(uf2.parse_uf2(both)) == 3
    nrf = uf2.uf2_to_bin(both, family=uf2.FAMILY_IDS["NRF52840"])
    assert nrf.base_address == 0x26000 and nrf.image[:100] == b"\x22" * 100
    with pytest.raises(ConfigError, match="mixes families"):
        uf2.uf2_to_bin(both)
    with pytest.raises(ConfigError, match="no flashable block"):
        uf2.uf2_to_bin(a, family=uf2.FAMILY_IDS["NRF52840"])


def test_reader_fills_gaps_between_blocks():
    first = uf2.Uf2Block(0x2000, 0x1000, 256, 0, 2, 7, b"\x01" * 256).pack()
    second = uf2.Uf2Block(0x2000, 0x1200, 256, 1, 2, 7, b"\x02" * 256).pack()
    img = uf2.uf2_to_bin(first + second)
    assert img.image == b"\x01" * 256 + bytes(256) + b"\x02" * 256


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d[:-1], "not a multiple of 512"),
    (lambda d: b"XXXX" + d[4:], "start magic"),
    (lambda d: d[:508] + b"\0\0\0\0" + d[512:], "end magic"),
    (lambda d: d[:16] + struct.pack("<I", 480) + d[20:], "at most 476"),
    (lambda d: d[:12] + struct.pack("<I", 0x10000002) + d[16:], "4-byte aligned"),
    (lambda d: d[512:], "numbered 1"),
    (lambda d: d[:1024], "truncated"),
    (lambda d: d[:512 + 24] + struct.pack("<I", 9) + d[512 + 28:], "changes the block total"),
])
def test_reader_rejects_corrupt_files(mutate, message):
    good = uf2.bin_to_uf2(bytes(700), 0x10000000, 0xE48BFF56)
    assert len(good) == 3 * 512
    with pytest.raises(ConfigError, match=message):
        uf2.parse_uf2(mutate(good))


def test_reader_rejects_overlapping_blocks():
    first = uf2.Uf2Block(0, 0x1000, 256, 0, 2, None, bytes(256)).pack()
    second = uf2.Uf2Block(0, 0x1080, 256, 1, 2, None, bytes(256)).pack()
    with pytest.raises(ConfigError, match="overlaps"):
        uf2.uf2_to_bin(first + second)


def test_writer_rejects_unaligned_origin_and_empty_image():
    with pytest.raises(ConfigError, match="not a multiple of 256"):
        uf2.bin_to_uf2(b"\x00" * 4, 0x10000004, None)
    with pytest.raises(ConfigError, match="empty"):
        uf2.bin_to_uf2(b"", 0x10000000, None)

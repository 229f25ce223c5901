"""SDF glyph ranges for the map page's labels, made from matplotlib's bundled DejaVu Sans.

MapLibre draws text from signed-distance-field glyphs served as protobuf ranges of 256 code
points (``{fontstack}/{start}-{end}.pbf``). No glyph package is bundled here, so they are made
the way mapbox's sdf-glyph-foundry / node-fontnik make them: each glyph rendered by FreeType
(matplotlib's FT2Font) at 24 px, padded by a 3 px buffer, and its signed distance to the outline
mapped to a byte with radius 8 and cutoff 0.25 (192 at the edge, 255 deep inside). The message
is ``glyphs.proto`` (glyphs{stacks: fontstack{name, range, glyphs: glyph{id, bitmap, width,
height, left, top, advance}}}), encoded by hand: it is four scalar types and two nestings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import distance_transform_edt

from windrisk.io import atomic_path

FONT_FAMILY = "DejaVu Sans"
FONT_SIZE_PX = 24
BUFFER_PX = 3
RADIUS_PX = 8
CUTOFF = 0.25
RANGE_SIZE = 256
RANGES = (0, 256)  # Latin-1 and Latin Extended-A/B: every letter of a US place name


@dataclass(frozen=True)
class Glyph:
    """One glyph: its SDF ``bitmap`` ((height + 2 buffer) x (width + 2 buffer) bytes, empty for
    blank glyphs) and its metrics in pixels at 24 px (``top`` relative to the ascender)."""

    id: int
    bitmap: bytes
    width: int
    height: int
    left: int
    top: int
    advance: int


# ---- SDF ------------------------------------------------------------------------------------
def sdf(alpha: np.ndarray, buffer: int = BUFFER_PX, radius: float = RADIUS_PX, cutoff: float = CUTOFF) -> np.ndarray:
    """uint8 signed distance field of a coverage image (0..1), padded by ``buffer`` px."""
    inside = np.pad(alpha, buffer) > 0.5
    # Distances between pixel centres; the outline lies half a pixel from the nearest centre.
    outside_px = distance_transform_edt(~inside) - 0.5
    inside_px = distance_transform_edt(inside) - 0.5
    signed_px = np.where(inside, -inside_px, outside_px)
    return np.clip(np.round(255 - 255 * (signed_px / radius + cutoff)), 0, 255).astype(np.uint8)


# ---- rendering ------------------------------------------------------------------------------
def font_path(family: str = FONT_FAMILY) -> str:
    from matplotlib import font_manager

    return font_manager.findfont(family, fallback_to_default=False)


def render_range(start: int, path: str | None = None, size_px: int = FONT_SIZE_PX) -> list[Glyph]:
    """The glyphs of code points ``start``..``start + 255`` that the font has, as SDFs."""
    from matplotlib import ft2font

    font = ft2font.FT2Font(path or font_path())
    font.set_size(size_px, 72)  # at 72 dpi a point is a pixel
    ascender = round(font.ascender * size_px / font.units_per_EM)
    charmap = font.get_charmap()
    glyphs = []
    for code in range(start, start + RANGE_SIZE):
        if code not in charmap:
            continue
        metrics = font.load_char(code)
        width, height = metrics.width // 64, metrics.height // 64  # hinted: whole pixels
        bitmap = b""
        if width and height:
            font.clear()
            font.set_text(chr(code), 0.0)
            font.draw_glyphs_to_bitmap(antialiased=True)
            image = np.asarray(font.get_image())
            # The image starts one row above the glyph's top and at its left bearing.
            coverage = np.zeros((height, width))
            crop = image[1 : 1 + height, :width]
            coverage[: crop.shape[0], : crop.shape[1]] = crop / 255.0
            bitmap = sdf(coverage).tobytes()
        glyphs.append(
            Glyph(
                id=code,
                bitmap=bitmap,
                width=width,
                height=height,
                left=metrics.horiBearingX // 64,
                top=metrics.horiBearingY // 64 - ascender,
                advance=round(metrics.horiAdvance / 64),
            )
        )
    return glyphs


# ---- protobuf -------------------------------------------------------------------------------
def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _zigzag(value: int) -> int:
    return (value << 1) ^ (value >> 31)


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field_bytes(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def encode_glyph(glyph: Glyph) -> bytes:
    return b"".join(
        (
            _field_varint(1, glyph.id),
            _field_bytes(2, glyph.bitmap) if glyph.bitmap else b"",
            _field_varint(3, glyph.width),
            _field_varint(4, glyph.height),
            _field_varint(5, _zigzag(glyph.left)),
            _field_varint(6, _zigzag(glyph.top)),
            _field_varint(7, glyph.advance),
        )
    )


def encode_range(name: str, start: int, glyphs: list[Glyph]) -> bytes:
    """A ``glyphs`` message holding one fontstack: the bytes of ``{start}-{start + 255}.pbf``."""
    stack = _field_bytes(1, name.encode()) + _field_bytes(2, f"{start}-{start + RANGE_SIZE - 1}".encode())
    stack += b"".join(_field_bytes(3, encode_glyph(g)) for g in glyphs)
    return _field_bytes(1, stack)


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message; varints as ints, length-delimited as bytes."""
    pos = 0

    def varint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while pos < len(data):
        key = varint()
        if key & 7 == 0:
            yield key >> 3, varint()
        elif key & 7 == 2:
            length = varint()
            yield key >> 3, data[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"glyph PBF: wire type {key & 7} at byte {pos} is not used by glyphs.proto")


def decode_range(data: bytes) -> tuple[str, str, list[Glyph]]:
    """(fontstack name, range, glyphs) of a one-fontstack glyph PBF: the inverse of encode_range."""
    (number, stack), *_ = _fields(data)
    if number != 1 or not isinstance(stack, bytes):
        raise ValueError("glyph PBF: expected a fontstack in field 1")
    name = span = ""
    glyphs = []
    for field, value in _fields(stack):
        if field == 1 and isinstance(value, bytes):
            name = value.decode()
        elif field == 2 and isinstance(value, bytes):
            span = value.decode()
        elif field == 3 and isinstance(value, bytes):
            raw = {k: v for k, v in _fields(value)}
            unzig = {k: (v >> 1) ^ -(v & 1) for k, v in raw.items() if k in (5, 6) and isinstance(v, int)}
            glyphs.append(
                Glyph(
                    id=int(raw[1]),
                    bitmap=bytes(raw.get(2, b"")),  # type: ignore[arg-type]
                    width=int(raw[3]),
                    height=int(raw[4]),
                    left=unzig[5],
                    top=unzig[6],
                    advance=int(raw[7]),
                )
            )
    return name, span, glyphs


def write_fonts(out_dir: str | Path, family: str = FONT_FAMILY, starts: tuple[int, ...] = RANGES) -> None:
    """``out_dir/<family>/<start>-<end>.pbf`` for each range start, written as one directory."""
    path = font_path(family)
    with atomic_path(out_dir, suffix="") as tmp:
        (tmp / family).mkdir(parents=True)
        for start in starts:
            pbf = encode_range(family, start, render_range(start, path))
            (tmp / family / f"{start}-{start + RANGE_SIZE - 1}.pbf").write_bytes(pbf)

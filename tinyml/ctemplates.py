"""The Jinja environment every generated C file goes through, and C identifier rules.

StrictUndefined: a template that uses a name Python did not pass is an error,
never an empty string in the output. The filters only format numbers and byte
arrays; the C around them lives in the templates.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from .errors import ConfigError

C_KEYWORDS = frozenset("""
auto break case char const continue default do double else enum extern float for goto if inline
int long register restrict return short signed sizeof static struct switch typedef union unsigned
void volatile while _Bool _Complex _Imaginary _Alignas _Alignof _Atomic _Generic _Noreturn
_Static_assert _Thread_local bool true false alignas alignof asm class delete new this template
typename namespace operator private protected public virtual friend mutable explicit nullptr
""".split())

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def c_identifier(text: str, *, fallback: str = "model") -> str:
    """A valid, non-reserved C identifier derived from `text`.

    Anything but letters, digits and underscores becomes an underscore, runs of
    underscores collapse, leading underscores go (names starting with one are
    reserved to the implementation), a leading digit gets `fallback_` in front,
    and C/C++ keywords get a trailing underscore.
    """
    ident = re.sub(r"[^A-Za-z0-9_]", "_", text)
    ident = re.sub(r"_+", "_", ident).strip("_")
    if not ident:
        ident = fallback
    if ident[0].isdigit():
        ident = f"{fallback}_{ident}"
    if ident in C_KEYWORDS:
        ident += "_"
    return ident


def is_c_identifier(text: str) -> bool:
    return bool(_IDENT.match(text)) and text not in C_KEYWORDS


def c_bytes(data: bytes, per_line: int = 12, indent: str = "    ") -> str:
    """`0x1c, 0x00, ...` lines for a C initializer (no trailing comma at the end)."""
    data = bytes(data)
    lines = []
    for start in range(0, len(data), per_line):
        chunk = data[start:start + per_line]
        sep = "," if start + per_line < len(data) else ""
        lines.append(indent + ", ".join(f"0x{b:02x}" for b in chunk) + sep)
    return "\n".join(lines)


def c_hex(value: int, digits: int = 8) -> str:
    return f"0x{int(value):0{digits}X}u"


def c_string(text: str) -> str:
    """A C string literal for plain ASCII text (board names, opcodes)."""
    if not all(32 <= ord(c) < 127 for c in text):
        raise ConfigError(f"{text!r} is not plain printable ASCII and cannot go into a C string.")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@lru_cache(maxsize=None)
def environment(root: str | None = None):
    """A Jinja environment over firmware_templates/ (or another root, for tests)."""
    import jinja2

    from .resources import data_dir

    base = Path(root) if root else data_dir("firmware_templates")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(base)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(c_bytes=c_bytes, c_hex=c_hex, c_string=c_string)
    return env


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)

"""Text as it may be stored, hashed and shown. Model-written strings can hold lone surrogates (a JSON escape
such as "\\udc80" decodes to one, and so does a file read with `surrogateescape`), which UTF-8 cannot encode:
Arrow, DuckDB, xxhash, JSON files and the terminal would all refuse them. Each one is written as its escape,
the six characters `\\udc80`, so the text stays total and the fact stays visible in it; NULs, control
characters and long lines pass as they are (DuckDB and JSON hold them)."""

import re
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` with every lone surrogate replaced by its `\\uXXXX` escape; unchanged (the same object) otherwise."""
    if text.isascii() or _LONE_SURROGATE.search(text) is None:
        return text
    return _LONE_SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def storable_value(value: Any) -> Any:
    """`storable` applied to a string, or to the strings of a list or dict (keys too), at any depth."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [storable_value(item) for item in value]
    if isinstance(value, dict):
        return {storable_value(key): storable_value(item) for key, item in value.items()}
    return value

"""Principal names a person cannot be confused with: NFKC, case-folded, one script, no invisible or
control characters, so ``Ann``, ``ann ``, ``ANN``, ``ann\\u200b`` and a Cyrillic ``аnn`` are either the
same name as ``ann`` or refused, never a second person who looks like the first."""

from __future__ import annotations

import unicodedata

from disgorge.errors import InputError

MAX_LEN = 64
_PUNCT = set("._-")


def _script(ch: str) -> str:
    if ch.isascii():
        return "LATIN" if ch.isalpha() else "COMMON"
    if not ch.isalpha():
        return "COMMON"
    return unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]


def normalise_name(raw: str) -> str:
    """The canonical form of a principal name, or InputError saying what is wrong with it."""
    name = unicodedata.normalize("NFKC", raw).casefold().strip()
    name = unicodedata.normalize("NFKC", name)
    if not name:
        raise InputError(f"principal name {raw!r} is empty")
    if len(name) > MAX_LEN:
        raise InputError(f"principal name {raw!r} is longer than {MAX_LEN} characters")
    for ch in name:
        cat = unicodedata.category(ch)
        if cat[0] in "CZ" or cat in ("Mn", "Me"):  # controls, format (zero-width), separators, marks
            raise InputError(
                f"principal name {raw!r} holds an invisible, control or space character "
                f"(U+{ord(ch):04X} {unicodedata.name(ch, '?')})",
                hint="use letters, digits and . _ - only",
            )
        if not (ch.isalnum() or ch in _PUNCT):
            raise InputError(
                f"principal name {raw!r}: {ch!r} is not allowed", hint="use letters, digits and . _ -"
            )
    if not name[0].isalnum():
        raise InputError(f"principal name {raw!r} must start with a letter or digit")
    scripts = {_script(ch) for ch in name} - {"COMMON"}
    if len(scripts) > 1:
        raise InputError(
            f"principal name {raw!r} mixes scripts ({', '.join(sorted(scripts))}): it could pass for another",
            hint="write the name in one script",
        )
    return name

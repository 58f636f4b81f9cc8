"""Kraken-style id characters drawn from a seeded ``random.Random``.

``draw_id_chars`` gives exactly the characters that ``rng.choice(ID_ALPHABET)`` repeated would
give, consuming the same random stream (recorded runs replay the same txids), at a third of the
cost: ``choice`` over 36 symbols is ``_randbelow(36)``, which draws ``getrandbits(6)`` until it is
below 36; the loop below does that without ``choice``'s two Python-level calls per character.
``tests/unit/test_sim_ids.py`` pins the equivalence against ``choice`` itself.
"""

from __future__ import annotations

import random
import string

__all__ = ["ID_ALPHABET", "draw_id_chars"]

ID_ALPHABET = string.ascii_uppercase + string.digits
_SYMBOLS = len(ID_ALPHABET)
_BITS = _SYMBOLS.bit_length()


def draw_id_chars(rng: random.Random, count: int) -> str:
    """``"".join(rng.choice(ID_ALPHABET) for _ in range(count))``, same stream, same result."""
    draw = rng.getrandbits
    chars: list[str] = []
    while len(chars) < count:
        index = draw(_BITS)
        if index < _SYMBOLS:
            chars.append(ID_ALPHABET[index])
    return "".join(chars)

"""The short text answer that call flows read (docs/product.md, Smart CNAM lookups and scores).

A dialplan reads a lookup's answer as one short line of plain ASCII: the score as ``d.ddd``
(five characters), immediately followed by the caller's name — no separator, no padding, no
newline — 20 characters at most. The name is what caller ID displays allow: transliterated
to ASCII (``Café Ltée`` → ``Cafe Ltee``, ``Straße`` → ``Strasse``, ``北京`` → ``BeiJing``),
kept to letters, digits, spaces and ``. ' & -``, cut to 15 characters with no space left
at the cut. A name with nothing left to show gives the score alone (``3.750``).
"""

from __future__ import annotations

import re
import unicodedata

from anyascii import anyascii

from portal_core.rules.scoring import format_score

MAX_NAME = 15  # what a caller ID display shows of a name
MAX_TEXT = 20  # the score's five characters and the name

_NOT_KEPT = re.compile(r"[^A-Za-z0-9 .'&-]")
# Symbols (emoji, ™, arrows, currency) and invisible characters are no part of a name:
# transliterated, an emoji would become its name in words (":grinning:").
_DROPPED_CATEGORIES = frozenset({"So", "Sk", "Sm", "Sc", "Cc", "Cf", "Co", "Cs", "Cn"})


def caller_name_ascii(name: str) -> str:
    """A caller's name as a caller ID display can show it: symbols dropped, the rest
    transliterated to ASCII, any other character a space, spaces collapsed, trimmed."""
    kept = "".join(
        " " if char.isspace() else char
        for char in name
        if char.isspace() or unicodedata.category(char) not in _DROPPED_CATEGORIES
    )
    # A character outside the set becomes a space rather than vanishing, so that the words
    # it separated ("Smith,John", "Zoë_O'Brien") stay apart.
    return " ".join(_NOT_KEPT.sub(" ", anyascii(kept)).split())


def place_name(place: str) -> str:
    """A place as the text answer writes it: "Toronto, ON" → "Toronto ON"."""
    return " ".join(place.replace(",", " ").split())


def text_answer(score_millis: int, name: str | None) -> str:
    """ "3.750Cafe Ltee": the score, then the name (or a place) cut for caller ID."""
    shown = caller_name_ascii(name or "")[:MAX_NAME].rstrip()
    return f"{format_score(score_millis)}{shown}"

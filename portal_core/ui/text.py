"""Showing a partner's own words exactly as typed.

Streamlit reads markdown almost everywhere: ``st.markdown``, captions, titles, alerts, toasts,
dialogs, and the labels of buttons, tabs, expanders, popovers, radios, metrics and page links.
A name typed as ``*bold*``, ``[link](http://x)``, ``<b>x</b>``, ``:red[x]`` or ``$x$`` would be
drawn as markup there. So whatever a partner typed (names, e-mail addresses, legal names,
addresses; card labels too) reaches markdown only through ``markdown_escape``, or
``markdown_code`` for an e-mail address; plain elements (``st.text``, a selectbox's options, a
table's cells, a text box's value) take it as it is.
"""

from __future__ import annotations

import re
import string
import unicodedata

_ASCII_PUNCTUATION = frozenset(string.punctuation)
# Invisible, and neither a space nor a punctuation mark: see ``_autolink_breaks``.
WORD_JOINER = "\u2060"
_WEB_ADDRESS_START = re.compile(r"(?i)(?=(https?://|www\.))")
_DOMAIN = re.compile(r"[-.\w]*", re.ASCII)
_EMAIL_DOMAIN = re.compile(r"[-\w]+(?:\.[-\w]+)+", re.ASCII)
_EMAIL_LOCAL_CHARACTER = re.compile(r"[-.+\w]", re.ASCII)


def markdown_escape(text: str) -> str:
    """``text`` for a markdown body or label, drawn exactly as typed, never interpreted.

    Every ASCII punctuation character is backslash-escaped (CommonMark allows it for each, and
    it also stops Streamlit's own ``:color[…]``, ``:emoji:``, ``:material/…:`` and ``$math$``).
    One thing escaping cannot stop: Streamlit links bare web and e-mail addresses found in the
    text *after* the escapes are read (``www.x.com``, ``https://x.com``, ``a@x.com``). Where
    such a link would form, an invisible word joiner goes before the address (or before its
    ``@``), which the linker does not accept there. E-mail addresses, which people copy, are
    better shown with ``markdown_code`` or as plain text.
    """
    breaks = _autolink_breaks(text)
    escaped: list[str] = []
    for index, char in enumerate(text):
        if index in breaks:
            escaped.append(WORD_JOINER)
        escaped.append(f"\\{char}" if char in _ASCII_PUNCTUATION else char)
    return "".join(escaped)


def markdown_code(text: str) -> str:
    """``text`` as an inline code span: shown exactly, in a monospace face, never linked.

    The fence is longer than any run of backticks in ``text``, and a space pads ``text`` where
    CommonMark would otherwise eat or misread its ends."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    needs_padding = (
        text.startswith("`")
        or text.endswith("`")
        or (text.startswith(" ") and text.endswith(" ") and text.strip() != "")
    )
    return f"{fence} {text} {fence}" if needs_padding else f"{fence}{text}{fence}"


def _autolink_breaks(text: str) -> set[int]:
    """Where a word joiner keeps Streamlit's markdown from linking an address: before each
    ``http://``, ``https://`` or ``www.`` that starts a linkable web address (at the start of
    the text or after a space or punctuation, with a dotted domain), and before each ``@``
    between an e-mail's local part and a dotted domain. It errs on the side of breaking."""
    breaks: set[int] = set()
    for found in _WEB_ADDRESS_START.finditer(text):
        start = found.start()
        if start > 0 and not _opens_a_word(text[start - 1]):
            continue
        prefix = found.group(1)
        domain_start = start if prefix.lower().startswith("www") else start + len(prefix)
        domain = _DOMAIN.match(text, domain_start)
        if domain is not None and "." in domain.group():
            breaks.add(start)
    for at, char in enumerate(text):
        if (
            char == "@"
            and at > 0
            and _EMAIL_LOCAL_CHARACTER.fullmatch(text[at - 1])
            and _EMAIL_DOMAIN.match(text, at + 1)
        ):
            breaks.add(at)
    return breaks


def _opens_a_word(previous: str) -> bool:
    return previous.isspace() or unicodedata.category(previous)[0] in "PSZ"

"""Showing a partner's own words safely inside markdown."""

from __future__ import annotations

_MARKDOWN_SPECIALS = set("\\`*_{}[]()#+-.!|<>~$")


def markdown_escape(text: str) -> str:
    """Escape every markdown and HTML special character, so a company called
    "**<script>**" is shown as typed, never interpreted."""
    return "".join(f"\\{char}" if char in _MARKDOWN_SPECIALS else char for char in text)

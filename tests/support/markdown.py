"""How Streamlit's markdown reads a source, character by character, for tests that check what
a partner's text looks like once drawn: backslash escapes (CommonMark: any ASCII punctuation)
and inline code spans protect characters; everything else may be markup."""

from __future__ import annotations

import string
from dataclasses import dataclass

PUNCTUATION = frozenset(string.punctuation)


@dataclass(frozen=True)
class Read:
    """A markdown source as Streamlit reads it: each character shown, and whether it was
    protected (backslash-escaped, or inside a code span) and inside a code span."""

    text: str
    protected: list[bool]
    in_code: list[bool]


def read_markdown(source: str) -> Read:
    text: list[str] = []
    protected: list[bool] = []
    in_code: list[bool] = []

    def put(char: str, *, safe: bool, code: bool) -> None:
        text.append(char)
        protected.append(safe)
        in_code.append(code)

    index = 0
    while index < len(source):
        char = source[index]
        if char == "\\" and index + 1 < len(source) and source[index + 1] in PUNCTUATION:
            put(source[index + 1], safe=True, code=False)
            index += 2
            continue
        if char == "`":
            run = len(source[index:]) - len(source[index:].lstrip("`"))
            close = _closing_run(source, index + run, run)
            if close is None:
                for _ in range(run):
                    put("`", safe=False, code=False)
                index += run
                continue
            content = source[index + run : close]
            if content.startswith(" ") and content.endswith(" ") and content.strip():
                content = content[1:-1]
            for inside in content:
                put(inside, safe=True, code=True)
            index = close + run
            continue
        put(char, safe=False, code=False)
        index += 1
    return Read("".join(text), protected, in_code)


def _closing_run(source: str, start: int, run: int) -> int | None:
    index = start
    while (found := source.find("`" * run, index)) != -1:
        end = found + run
        if (found == 0 or source[found - 1] != "`") and (end >= len(source) or source[end] != "`"):
            return found
        index = end + len(source[end:]) - len(source[end:].lstrip("`"))
    return None

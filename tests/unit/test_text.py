"""The helpers that put a partner's text into markdown: read back, it is exactly what was typed,
with every markup character protected; addresses that Streamlit would link are broken."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal_core.ui.text import WORD_JOINER, markdown_code, markdown_escape
from tests.support.markdown import read_markdown

HOSTILE = [
    "*bold* _x_ [link](http://x)",
    '=HYPERLINK("http://x","y")',
    "<b>x</b> <!-- x -->",
    ":red[x] :blue-background[y] :material/home: :smile:",
    "$x$ $$y$$",
    "&amp; &#42;",
    "# heading",
    "1. list",
    "- item | a | b |",
    "> quote",
    "~~strike~~ `code` ``more``",
    "back\\slash",
]


@pytest.mark.parametrize("typed", HOSTILE)
def test_markdown_escape_protects_every_markup_character(typed):
    read = read_markdown(markdown_escape(typed))

    assert read.text == typed
    assert all(
        read.protected[index] for index, char in enumerate(read.text) if char in string.punctuation
    )


@given(st.text(alphabet=st.characters(blacklist_characters=WORD_JOINER, codec="utf-8")))
def test_markdown_escape_reads_back_as_typed(typed):
    read = read_markdown(markdown_escape(typed))

    assert read.text.replace(WORD_JOINER, "") == typed
    assert all(
        read.protected[index] for index, char in enumerate(read.text) if char in string.punctuation
    )


@pytest.mark.parametrize(
    ("typed", "broken"),
    [
        ("www.example.com", f"{WORD_JOINER}www.example.com"),
        ("See https://evil.example.com/x now", f"See {WORD_JOINER}https://evil.example.com/x now"),
        ("HTTP://A.B", f"{WORD_JOINER}HTTP://A.B"),
        ("(www.x.com)", f"({WORD_JOINER}www.x.com)"),
        ("x.www.evil.com", f"x.{WORD_JOINER}www.evil.com"),
        (
            "http://www.evil.com",
            f"{WORD_JOINER}http://{WORD_JOINER}www.evil.com",
        ),
        ("jose@example.com", f"jose{WORD_JOINER}@example.com"),
        ("*bold*_x_@hostile.test", f"*bold*_x_{WORD_JOINER}@hostile.test"),
        ("mailto:a@b.cd", f"mailto:a{WORD_JOINER}@b.cd"),
    ],
)
def test_markdown_escape_breaks_addresses_streamlit_would_link(typed, broken):
    assert read_markdown(markdown_escape(typed)).text == broken


@pytest.mark.parametrize(
    "typed",
    [
        "[link](http://x)",  # no dotted domain: nothing to link once escaped
        '=HYPERLINK("http://x","y")',
        "ftp://a.b.c",
        "awww.example.com",  # inside a word
        "Sam at home",
        "$x$@hostile.test",  # no local part before the @
        "a@localhost",
    ],
)
def test_markdown_escape_leaves_text_that_would_not_be_linked_alone(typed):
    assert WORD_JOINER not in markdown_escape(typed)


@pytest.mark.parametrize(
    ("typed", "span"),
    [
        ("*bold*_x_@hostile.test", "`*bold*_x_@hostile.test`"),
        ("a`b@x.com", "``a`b@x.com``"),
        ("`a@x.com", "`` `a@x.com ``"),
        ("a@x.com`", "`` a@x.com` ``"),
        (" a ", "`  a  `"),
    ],
)
def test_markdown_code_fences_and_pads_as_commonmark_needs(typed, span):
    assert markdown_code(typed) == span


@given(st.text(alphabet=st.characters(codec="utf-8", blacklist_categories=["Cc"]), min_size=1))
def test_markdown_code_reads_back_as_typed(typed):
    read = read_markdown(markdown_code(typed))

    assert read.text == typed
    assert all(read.in_code)

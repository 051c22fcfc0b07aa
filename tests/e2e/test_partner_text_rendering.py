"""What Chromium shows for a partner's text put through ``ui.text``: exactly what was typed,
with no link, emphasis, colour, formula or HTML, in every kind of element that reads markdown.

The page tests read element sources the way Streamlit's markdown does; this checks that reading
against Streamlit's own renderer, on a small app served for the purpose.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from portal_core.settings import ROOT
from portal_core.ui.text import WORD_JOINER
from tests.e2e.conftest import WAIT_MS
from tests.support.served import START_TIMEOUT_S, answers, free_port, tail

pytestmark = pytest.mark.e2e

HOSTILE = [
    "*bold* _x_ [link](http://x)",
    '=HYPERLINK("http://x","y")',
    "<b>x</b> <!-- c -->",
    ":red[x] $x$ :smile: &amp; :material/home:",
    "www.example.com and https://evil.example.com/x",
    "(www.x.com) x.www.evil.com HTTP://A.B",
    "jose@example.com a_b@c.de",
    "# head",
    "> quote",
    "- item | a | b",
]
EMAILS = ["*bold*_x_@hostile.test", "jose@example.com", "a`b@x.com"]

APP = """
import json
import streamlit as st
from portal_core.ui.text import markdown_code, markdown_escape

for index, typed in enumerate(json.loads(st.query_params["texts"])):
    shown = markdown_escape(typed)
    st.container(key=f"markdown_{index}").markdown(f"**{shown}**")
    st.container(key=f"caption_{index}").caption(shown)
    st.container(key=f"alert_{index}").error(shown)
    st.container(key=f"title_{index}").title(shown, anchor=False)
    st.container(key=f"popover_{index}").popover(shown)
    st.container(key=f"button_{index}").button(shown, key=f"button{index}")
    st.container(key=f"radio_{index}").radio("Pick", [shown], key=f"radio{index}")
    st.container(key=f"tab_{index}").tabs([shown])
    st.container(key=f"expander_{index}").expander(shown)
    st.container(key=f"metric_{index}").metric(shown, shown)
    st.container(key=f"toggle_{index}").toggle(shown, key=f"toggle{index}")
for index, email in enumerate(json.loads(st.query_params["emails"])):
    st.container(key=f"email_{index}").info(f"We sent a link to {markdown_code(email)}.")
st.container(key="done").write("done")
"""
KINDS = [
    "markdown",
    "caption",
    "alert",
    "title",
    "popover",
    "button",
    "radio",
    "tab",
    "expander",
    "metric",
    "toggle",
]
EVERY_ONE_SHOWS_TEXT = """keys => keys.every(key => {
    const element = document.querySelector(".st-key-" + key);
    return element !== null && element.innerText.trim() !== "";
})"""
# Tags that would mean markup was acted on (a title's own heading tag is expected).
MARKUP = re.compile(r"<(a|em|strong|del|b|i|img|ol|ul|li|blockquote|h[1-6]|span class=\"katex)\b")


@pytest.fixture(scope="module")
def text_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("text-app")
    (folder / "app.py").write_text(APP)
    port = free_port()
    log = folder / "server.log"
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=folder,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers(f"{url}/_stcore/health"):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the text app did not start:\n{tail(log)}")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_escaped_text_and_code_spans_show_exactly_what_was_typed(
    chromium: Browser, text_app: str
) -> None:
    context = chromium.new_context()
    try:
        page = context.new_page()
        query = urlencode({"texts": json.dumps(HOSTILE), "emails": json.dumps(EMAILS)})
        page.goto(f"{text_app}/?{query}")
        page.locator(".st-key-done").wait_for(timeout=WAIT_MS)
        # The last element drawn is no sign that every one before it has its text yet (a
        # button's label is drawn after its frame): wait for each to show something. One
        # that never does is then listed below, as what it showed.
        keyed = [f"{kind}_{index}" for index in range(len(HOSTILE)) for kind in KINDS]
        keyed += [f"email_{index}" for index in range(len(EMAILS))]
        try:
            page.wait_for_function(EVERY_ONE_SHOWS_TEXT, arg=keyed, timeout=WAIT_MS)
        except PlaywrightTimeoutError:
            pass
        wrong = []
        for index, typed in enumerate(HOSTILE):
            for kind in KINDS:
                element = page.locator(f".st-key-{kind}_{index}")
                shown = element.inner_text().replace(WORD_JOINER, "")
                markup = set(MARKUP.findall(element.inner_html())) - (
                    {"h1"} if kind == "title" else {"strong"} if kind == "markdown" else set()
                )
                if typed not in shown or markup:
                    wrong.append((kind, typed, shown, sorted(markup)))
        for index, email in enumerate(EMAILS):
            element = page.locator(f".st-key-email_{index}")
            shown = element.inner_text()
            markup = set(MARKUP.findall(element.inner_html()))
            if f"We sent a link to {email}." not in shown or markup:
                wrong.append(("email", email, shown, sorted(markup)))
    finally:
        context.close()

    assert wrong == []

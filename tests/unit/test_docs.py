"""The repository stands alone: nothing outside ``docs/`` cites a document that a clone does
not have, and every citation of ``docs/`` names a page and a section that exist.

A citation names the page, then a heading of it: ``docs/product.md, Billing model``. A heading
nested under others may be named with its parents, joined by " › ", from any level down to it:
``docs/product.md, Pages › Billing › Invoices`` (or ``Billing › Invoices``, or ``Invoices``).
The rules of the house are cited by number: ``docs/architecture.md, rule 5`` or ``rules 4 and
5``. A citation stays on one line, and ends where the clause does: the section is followed by
``)``, ``;``, ``,``, ``.``, ``:``, a quote, a backquote or the end of the line, so that a
section that is gone cannot pass because a heading that still exists begins its name. A page
named without ", " and a section (`docs/product.md` alone) must exist too.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from functools import cache

import pytest

from portal_core.settings import ROOT

# Documents that lived beside the repository, and an issue tracker it does not have. Each
# pattern is written so that it does not match its own source text, so this file is checked
# like any other.
OUTSIDE = re.compile(
    r"SPEC\.md|DESIGN\.md|STYLE\.md|\.\./shared|partner-portal[-]guide"
    r"|\bDESIGN,? rules? [0-9]|\bissues? #?[0-9]",
    re.IGNORECASE,
)
# Where the old documents may still be named: the repository's own docs, and CI's scripts.
EXEMPT = ("docs/", ".ci/")
# When git cannot list the tracked files (a copy without .git), the tree is walked without these.
UNTRACKED = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}

CITATION = re.compile(r"docs/(?P<page>[\w.-]+?\.md)\b(?P<rest>[^\n]*)")
RULES = re.compile(r"rules? (?P<first>[0-9]+)(?: and (?P<second>[0-9]+))?")
ENDS = frozenset(")];,.:\"'`")
JOIN = " › "


def tracked_files() -> list[str]:
    """The repository's files, relative to its root: those git tracks, and new ones it does
    not ignore (so a file not yet added is checked too)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return [name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        return [
            path.relative_to(ROOT).as_posix()
            for path in sorted(ROOT.rglob("*"))
            if path.is_file() and not UNTRACKED & set(path.relative_to(ROOT).parts)
        ]


@cache
def text_files() -> dict[str, str]:
    """Every tracked text file's text; binary files (a NUL byte, or not UTF-8) are left out."""
    texts: dict[str, str] = {}
    for name in tracked_files():
        path = ROOT / name
        if not path.is_file():  # deleted in the working tree, not yet from the index
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            texts[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return texts


# --- The pages' headings and rules --------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    sections: frozenset[str]  # every heading, alone and with any run of its parents
    rules: frozenset[int]  # the numbers of the "Rules of the house" list, if it has one


def read_page(text: str) -> Page:
    """The sections a citation may name in a markdown page, and its numbered rules.

    The page's title (``#``) is not a section; ``##`` to ``######`` are, nested by level.
    Lines inside code fences are not headings.
    """
    sections: set[str] = set()
    rules: set[int] = set()
    stack: list[tuple[int, str]] = []
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        heading = re.match(r"(#{1,6})\s+(.+?)\s*#*\s*$", line)
        if heading:
            level = len(heading.group(1))
            stack = [(depth, title) for depth, title in stack if depth < level]
            if level > 1:
                stack.append((level, heading.group(2)))
                titles = [title for _, title in stack]
                sections.update(JOIN.join(titles[start:]) for start in range(len(titles)))
            continue
        item = re.match(r"([0-9]+)\. ", line)
        if item and stack and stack[-1][1].lower() == "rules of the house":
            rules.add(int(item.group(1)))
    return Page(frozenset(sections), frozenset(rules))


@cache
def page(name: str) -> Page | None:
    path = ROOT / "docs" / name
    return read_page(path.read_text(encoding="utf-8")) if path.is_file() else None


def citation_problems(text: str) -> list[str]:
    """What is wrong with each citation of ``docs/`` in ``text``, one message per citation."""
    problems: list[str] = []
    for found in CITATION.finditer(text):
        name, rest = found.group("page"), found.group("rest")
        cited = page(name)
        shown = f"docs/{name}{rest[:60]}".rstrip()
        if cited is None:
            problems.append(f"{shown!r}: there is no docs/{name}")
            continue
        if rest.rstrip() == ",":
            problems.append(f"{shown!r}: a citation breaks across lines; keep it on one")
            continue
        if not rest.startswith(", "):
            continue  # the page alone
        after = rest[2:]
        if after[:1].islower() and not after.startswith("rule"):
            continue  # prose after a comma, not a section
        problem = _section_problem(cited, after)
        if problem:
            problems.append(f"{shown!r}: {problem}")
    return problems


def _section_problem(cited: Page, after: str) -> str | None:
    rules = RULES.match(after)
    if rules:
        numbers = [int(number) for number in rules.group("first", "second") if number]
        missing = [number for number in numbers if number not in cited.rules]
        if missing:
            return f"no rule {missing[0]} in its Rules of the house"
        return _ending_problem(after[rules.end() :])
    named = [section for section in cited.sections if after.startswith(section)]
    if any(_ends(after[len(section) :]) for section in named):
        return None
    if named:
        longest = max(named, key=len)
        following = after[len(longest) :]
        return (
            f"no such section: {longest!r} runs on into {following[:20]!r} (end it with ) ; , . :)"
        )
    return "no such section (headings nest with ' › ')"


def _ends(following: str) -> bool:
    return not following or following[0] in ENDS


def _ending_problem(following: str) -> str | None:
    return None if _ends(following) else f"the citation runs on into {following[:20]!r}"


# --- The checks ---------------------------------------------------------------------------------


def test_the_checks_read_the_repository() -> None:
    files = text_files()
    assert "portal_core/money.py" in files and "tests/unit/test_docs.py" in files
    assert "docs/product.md" in files and "docs/architecture.md" in files
    assert not any(name.endswith(".png") for name in files), "binary files are left out"


def test_nothing_outside_docs_cites_a_document_the_repository_lacks() -> None:
    offenders = [
        f"{name}:{number}: {line.strip()[:100]}"
        for name, text in text_files().items()
        if not name.startswith(EXEMPT)
        for number, line in enumerate(text.splitlines(), start=1)
        if OUTSIDE.search(line)
    ]
    assert offenders == [], "cite docs/product.md or docs/architecture.md instead:\n" + "\n".join(
        offenders
    )


def test_every_citation_of_docs_names_a_page_and_a_section_that_exist() -> None:
    checked = 0
    offenders: list[str] = []
    for name, text in text_files().items():
        checked += len(CITATION.findall(text))
        offenders.extend(f"{name}: {problem}" for problem in citation_problems(text))
    assert offenders == [], "\n".join(offenders)
    assert checked > 50, f"only {checked} citations of docs/ were found: is the pattern right?"


def test_the_pages_have_the_sections_the_code_relies_on() -> None:
    product, architecture = page("product.md"), page("architecture.md")
    assert product is not None and architecture is not None
    assert {"Billing model", "Roles", "Who uses it › Roles", "Pages › Billing › Invoices"} <= (
        product.sections
    )
    assert frozenset(range(1, 12)) <= architecture.rules


# The cases name the folder through ``D`` so that the scan of this file does not read them.
D = "docs"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (f"({D}/product.md, Billing model)", None),
        (f"({D}/product.md, Pages › Billing › Invoices; more)", None),
        (f"({D}/product.md, Invoices)", None),
        (f"`{D}/product.md, Roles`", None),
        (f"({D}/architecture.md, rules 4 and 5)", None),
        (f"see {D}/product.md, and the rest", None),
        (f"see {D}/product.md alone", None),
        (f"({D}/nowhere.md, Billing model)", f"there is no {D}/nowhere.md"),
        (f"({D}/product.md, Billing modle)", "no such section"),
        (f"({D}/product.md, *Billing model*)", "no such section"),
        (f"({D}/product.md, Pages › Invoices)", "no such section"),
        (f"({D}/product.md, Billing model and Figures)", "runs on into ' and Figures)'"),
        (f"({D}/product.md, Pages ›\nBilling › Invoices)", "runs on into ' ›'"),
        (f"({D}/product.md,\nBilling model)", "breaks across lines"),
        (f"({D}/architecture.md, rule 12)", "no rule 12"),
        (f"({D}/architecture.md, rules 4 and 40)", "no rule 40"),
        (f"({D}/architecture.md, rule 5 of them)", "runs on into ' of them)'"),
        (f"({D}/product.md, rule 1)", "no rule 1"),
    ],
)
def test_a_citation_is_judged_by_the_pages_as_they_are(text: str, complaint: str | None) -> None:
    problems = citation_problems(text)
    if complaint is None:
        assert problems == []
    else:
        assert len(problems) == 1 and complaint in problems[0], problems


@pytest.mark.parametrize(
    "line",
    [
        "(SPEC" + ".md, Billing model)",
        "(DESIGN" + ".md, rule 5)",
        "(STYLE" + ".md)",
        "see .." + "/shared/product",
        "the partner-portal" + "-guide",
        "(DESIGN" + " rule 7)",
        "(issue" + " 3's target: under 60 s)",
        "(Issue" + " #12)",
    ],
)
def test_a_citation_of_outside_material_is_caught(line: str) -> None:
    assert OUTSIDE.search(line)


@pytest.mark.parametrize(
    "line", ["the issue date", "invoices issued on the 1st", "docs/product.md, Billing model"]
)
def test_ordinary_words_are_not_taken_for_outside_material(line: str) -> None:
    assert not OUTSIDE.search(line)

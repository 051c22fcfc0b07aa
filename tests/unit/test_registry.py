"""The page registry against the files Streamlit actually serves.

With a ``pages/`` folder, Streamlit runs a deep-linked page's script alone
(docs/architecture.md, Pages and navigation): the only guard a page has is its own first
statement. These tests read the scripts with ``ast`` instead of running them, so they hold for
every page, present and future.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from portal_core.permissions import Capability
from portal_core.settings import ROOT
from portal_core.ui.registry import PAGES, Audience, PageSpec, Section

SCRIPTS = ["Home.py", *sorted(f"pages/{path.name}" for path in (ROOT / "pages").glob("*.py"))]
SHELL_OPENERS = {"open_page", "open_public_page"}


def _parse(script: str) -> ast.Module:
    return ast.parse((ROOT / script).read_text(encoding="utf-8"), filename=script)


def _first_statement_after_imports(module: ast.Module) -> ast.stmt | None:
    body = list(module.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the module docstring
    for statement in body:
        if not isinstance(statement, ast.Import | ast.ImportFrom):
            return statement
    return None


def _shell_call(statement: ast.stmt | None) -> ast.Call | None:
    """The ``shell.open_…(…)`` call a statement makes, bare or assigned to a name."""
    if isinstance(statement, ast.Expr | ast.Assign | ast.AnnAssign):
        value = statement.value
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Attribute)
            and isinstance(value.func.value, ast.Name)
            and value.func.value.id == "shell"
            and value.func.attr in SHELL_OPENERS
        ):
            return value
    return None


def _imports_the_shell(module: ast.Module) -> bool:
    return any(
        isinstance(statement, ast.ImportFrom)
        and statement.module == "portal_core.ui"
        and any(alias.name == "shell" and alias.asname is None for alias in statement.names)
        for statement in module.body
    )


def test_every_script_has_a_registry_entry_and_every_entry_a_script() -> None:
    registered = sorted(spec.script for spec in PAGES)
    assert registered == sorted(SCRIPTS), (
        f"scripts without an entry: {sorted(set(SCRIPTS) - set(registered))}; "
        f"entries without a script: {sorted(set(registered) - set(SCRIPTS))}"
    )


def test_registry_ids_scripts_and_url_paths_are_unique() -> None:
    for attribute in ("id", "script", "url_path"):
        values = [getattr(spec, attribute) for spec in PAGES]
        assert len(values) == len(set(values)), f"duplicate {attribute} in the registry"


def test_the_dashboard_is_home_and_needs_no_capability_beyond_an_active_account() -> None:
    home = next(spec for spec in PAGES if spec.script == "Home.py")
    assert home.id == "dashboard"
    assert home.audience is Audience.MEMBER
    assert home.capability is None
    assert home.url_path == ""


def test_public_and_activation_pages_stay_out_of_the_pane_and_need_no_capability() -> None:
    outside = [spec for spec in PAGES if spec.audience is not Audience.MEMBER]
    assert {spec.audience for spec in outside} == {Audience.PUBLIC, Audience.ACTIVATION}
    for spec in outside:
        assert not spec.in_pane, f"{spec.id} is not for members but sits in the pane"
        assert spec.capability is None, f"{spec.id}: a capability means nothing here"


def test_every_staff_section_page_needs_the_staff_capability() -> None:
    staff_pages = [spec for spec in PAGES if spec.section is Section.STAFF]
    assert staff_pages, "no Staff page in the registry: the check below would hold of nothing"
    for spec in staff_pages:
        assert spec.capability is Capability.STAFF, spec.id


@pytest.mark.parametrize("spec", PAGES, ids=lambda spec: spec.id)
def test_page_opens_through_the_shell_with_its_own_id_first(spec: PageSpec) -> None:
    path = ROOT / spec.script
    if not path.exists():
        pytest.fail(f"{spec.script} is in the registry but does not exist")
    module = _parse(spec.script)
    assert _imports_the_shell(module), f"{spec.script} must `from portal_core.ui import shell`"
    call = _shell_call(_first_statement_after_imports(module))
    assert call is not None, (
        f"{spec.script}: the first statement after the imports must be "
        f'shell.open_page("{spec.id}") or shell.open_public_page("{spec.id}")'
    )
    expected = "open_public_page" if spec.audience is Audience.PUBLIC else "open_page"
    assert isinstance(call.func, ast.Attribute)
    assert call.func.attr == expected, f"{spec.script} is {spec.audience}: use shell.{expected}"
    arguments = [ast.unparse(argument) for argument in call.args]
    assert arguments == [repr(spec.id)] and not call.keywords, (
        f"{spec.script} opens {', '.join(arguments)}, but its registry id is {spec.id!r}"
    )


def test_the_first_statement_check_refuses_a_page_that_draws_before_the_shell() -> None:
    module = ast.parse(
        '"""A page."""\nimport streamlit as st\nfrom portal_core.ui import shell\n'
        'st.title("Leaked")\nshell.open_page("dashboard")\n'
    )
    assert _shell_call(_first_statement_after_imports(module)) is None


@pytest.mark.parametrize("script", SCRIPTS)
def test_no_page_calls_st_navigation(script: str) -> None:
    _assert_no_navigation(_parse(script), script)


def test_the_shell_package_never_calls_st_navigation() -> None:
    modules = sorted((ROOT / "portal_core" / "ui").glob("*.py"))
    assert ROOT / "portal_core" / "ui" / "shell.py" in modules  # a moved folder fails here
    for path in modules:
        module = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        _assert_no_navigation(module, str(path.relative_to(ROOT)))


def _assert_no_navigation(module: ast.Module, where: str) -> None:
    for node in ast.walk(module):
        if isinstance(node, ast.Attribute):
            assert node.attr != "navigation", f"{where} uses st.navigation (line {node.lineno})"
        if isinstance(node, ast.ImportFrom) and node.module == "streamlit":
            names = {alias.name for alias in node.names}
            assert "navigation" not in names, f"{where} imports streamlit.navigation"


def test_config_hides_streamlits_own_page_list() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["showSidebarNavigation"] is False


def test_scripts_found_on_disk_include_home_and_the_pages_folder() -> None:
    # Guards the test above against an empty glob (a moved folder would pass it vacuously).
    assert "Home.py" in SCRIPTS
    assert len(SCRIPTS) > 1
    assert all(Path(ROOT / script).is_file() for script in SCRIPTS)

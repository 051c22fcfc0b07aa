"""Settings: development defaults work as they are; production refuses placeholder secrets."""

from __future__ import annotations

import shlex
import subprocess

import pydantic
import pytest

from portal_core.settings import DEVELOPMENT_COOKIE_KEY, ROOT, Settings

A_REAL_KEY = "p9Vf2Qz7Lx4Nc8Rt1Hw6Jb3Ym5Ka0GdE"  # 32 random characters


def test_production_refuses_the_development_cookie_key_by_default(monkeypatch):
    monkeypatch.delenv("COOKIE_KEY", raising=False)

    with pytest.raises(pydantic.ValidationError, match="development value"):
        Settings(portal_env="production")


def test_production_refuses_the_development_cookie_key_given_explicitly():
    with pytest.raises(pydantic.ValidationError, match="development value"):
        Settings(portal_env="production", cookie_key=DEVELOPMENT_COOKIE_KEY)


def test_production_refuses_a_short_cookie_key():
    with pytest.raises(pydantic.ValidationError, match="at least 32 characters"):
        Settings(portal_env="production", cookie_key=A_REAL_KEY[:31])


def test_production_accepts_a_long_random_cookie_key():
    settings = Settings(portal_env="production", cookie_key=A_REAL_KEY)

    assert settings.cookie_key == A_REAL_KEY
    assert not settings.is_development


def test_production_reads_the_cookie_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("COOKIE_KEY", A_REAL_KEY)

    assert Settings(portal_env="production").cookie_key == A_REAL_KEY


def test_development_runs_on_the_defaults(monkeypatch):
    monkeypatch.delenv("COOKIE_KEY", raising=False)

    settings = Settings(portal_env="development")

    assert settings.cookie_key == DEVELOPMENT_COOKIE_KEY
    assert settings.is_development


def test_smtp_is_used_only_when_a_host_is_set(monkeypatch):
    monkeypatch.delenv("SMTP_HOST", raising=False)
    assert not Settings().uses_smtp
    assert Settings(smtp_host="smtp.example.com").uses_smtp


@pytest.mark.parametrize(
    ("field", "value"), [("bcrypt_rounds", 3), ("bcrypt_rounds", 17), ("cookie_expiry_days", 0)]
)
def test_out_of_range_settings_are_refused(field, value):
    with pytest.raises(pydantic.ValidationError):
        Settings(**{field: value})


def test_the_public_url_defaults_to_the_port_served_on(monkeypatch):
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    monkeypatch.setenv("PORT", "8080")

    assert Settings().public_url == "http://localhost:8080"


def test_a_public_url_given_wins_over_the_port(monkeypatch):
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("PUBLIC_URL", "https://portal.sipstack.example")

    assert Settings().public_url == "https://portal.sipstack.example"


def test_make_run_on_another_port_links_e_mails_to_that_port(monkeypatch):
    printed = subprocess.run(
        ["make", "--dry-run", "run", "PORT=8123", "VENV=/nonexistent-venv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    [serve] = [line for line in printed.splitlines() if "uvicorn" in line]
    words = shlex.split(serve)
    assert "--port" in words and words[words.index("--port") + 1] == "8123"
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    monkeypatch.delenv("PORT", raising=False)
    for word in words:  # the environment the command line sets for the server
        name, equals, value = word.partition("=")
        if not equals or not name.isidentifier():
            break
        monkeypatch.setenv(name, value)

    assert Settings().public_url == "http://localhost:8123"


@pytest.mark.parametrize(("value", "on"), [("off", False), ("false", False), ("on", True)])
def test_scheduler_reads_on_and_off_from_the_environment(monkeypatch, value, on):
    monkeypatch.setenv("SCHEDULER", value)

    assert Settings().scheduler is on


def test_the_scheduler_is_on_by_default(monkeypatch):
    monkeypatch.delenv("SCHEDULER", raising=False)

    assert Settings().scheduler is True


def test_a_scheduler_value_that_is_not_on_or_off_is_refused(monkeypatch):
    monkeypatch.setenv("SCHEDULER", "sometimes")

    with pytest.raises(pydantic.ValidationError, match="scheduler"):
        Settings()

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


# --- The keys of digests and sealed secrets ------------------------------------------------

ANOTHER_KEY = "Hq3Zt8Wm1Rk6Vp0Yc5Nf2Lx9Bs4Gd7Ja"  # 32 random characters
A_THIRD_KEY = "Tn6Qe1Xv8Mb3Kw5Rz0Hc9Pf2Ly7Gs4Dj"


@pytest.mark.parametrize("name", ["TOKEN_KEYS", "SEALING_KEYS"])
def test_production_refuses_a_missing_key_list(monkeypatch, name):
    monkeypatch.delenv(name, raising=False)

    with pytest.raises(pydantic.ValidationError, match=f"{name} is not set"):
        Settings(portal_env="production", cookie_key=A_REAL_KEY)


@pytest.mark.parametrize("name", ["TOKEN_KEYS", "SEALING_KEYS"])
def test_production_refuses_a_list_of_commas_alone(monkeypatch, name):
    monkeypatch.setenv(name, " , ")

    with pytest.raises(pydantic.ValidationError, match=f"{name} is not set"):
        Settings(portal_env="production", cookie_key=A_REAL_KEY)


@pytest.mark.parametrize("name", ["TOKEN_KEYS", "SEALING_KEYS"])
def test_outside_development_the_placeholder_is_refused_even_as_an_older_key(monkeypatch, name):
    monkeypatch.setenv(name, f"{ANOTHER_KEY},{DEVELOPMENT_COOKIE_KEY}")

    with pytest.raises(pydantic.ValidationError, match=f"{name} still has a development value"):
        Settings(portal_env="test", cookie_key=A_REAL_KEY)


@pytest.mark.parametrize("name", ["TOKEN_KEYS", "SEALING_KEYS"])
def test_production_refuses_a_short_key_anywhere_in_the_list(monkeypatch, name):
    monkeypatch.setenv(name, f"{ANOTHER_KEY},{A_THIRD_KEY[:31]}")

    with pytest.raises(pydantic.ValidationError, match=f"Every key of {name} must be at least 32"):
        Settings(portal_env="production", cookie_key=A_REAL_KEY)


@pytest.mark.parametrize("name", ["TOKEN_KEYS", "SEALING_KEYS"])
def test_the_newest_key_must_not_be_the_cookie_key(monkeypatch, name):
    monkeypatch.setenv(name, f"{A_REAL_KEY},{ANOTHER_KEY}")

    with pytest.raises(pydantic.ValidationError, match=f"newest of {name} must be a key of its"):
        Settings(portal_env="production", cookie_key=A_REAL_KEY)


def test_the_cookie_key_may_stay_listed_behind_a_new_key_while_the_old_digests_live(monkeypatch):
    # How an older portal moves on: its one key, the cookie's, kept behind new keys of their own.
    monkeypatch.setenv("TOKEN_KEYS", f"{ANOTHER_KEY}, {A_REAL_KEY}")
    monkeypatch.setenv("SEALING_KEYS", f"{A_THIRD_KEY},{A_REAL_KEY}")

    settings = Settings(portal_env="production", cookie_key=A_REAL_KEY)

    assert settings.token_key_list == (ANOTHER_KEY, A_REAL_KEY)
    assert settings.sealing_key_list == (A_THIRD_KEY, A_REAL_KEY)


def test_development_keys_default_to_the_cookie_key(monkeypatch):
    for name in ("COOKIE_KEY", "TOKEN_KEYS", "SEALING_KEYS"):
        monkeypatch.delenv(name, raising=False)

    settings = Settings(portal_env="development")

    assert settings.token_key_list == (DEVELOPMENT_COOKIE_KEY,)
    assert settings.sealing_key_list == (DEVELOPMENT_COOKIE_KEY,)


def test_development_keys_given_are_used(monkeypatch):
    monkeypatch.setenv("TOKEN_KEYS", f"{ANOTHER_KEY},{A_THIRD_KEY}")
    monkeypatch.delenv("SEALING_KEYS", raising=False)

    settings = Settings(portal_env="development", cookie_key=A_REAL_KEY)

    assert settings.token_key_list == (ANOTHER_KEY, A_THIRD_KEY)
    assert settings.sealing_key_list == (A_REAL_KEY,)

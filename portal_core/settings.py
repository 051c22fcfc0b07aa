"""One typed settings object for the whole portal.

Values come from the environment first, then ``.streamlit/secrets.toml``, then the
development defaults below, so ``make run`` works on a fresh checkout. Outside development the
placeholder secrets are refused at start-up rather than silently used.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
SECRETS_FILE = ROOT / ".streamlit" / "secrets.toml"

DEVELOPMENT_COOKIE_KEY = "development-only-cookie-key-change-me"


class Settings(BaseSettings):
    """Everything the portal reads from its environment, typed, with development defaults."""

    model_config = SettingsConfigDict(extra="ignore", toml_file=SECRETS_FILE)

    portal_env: Literal["development", "test", "production"] = "development"
    database_url: str = f"sqlite:///{DATA_DIR / 'portal.db'}"
    # The port ``make run`` serves on; unset, the portal's address follows it, so the links
    # in e-mails point where the portal answers.
    port: int = Field(default=8501, ge=1, le=65535)
    public_url: str = ""

    cookie_name: str = "sipstack_portal"
    cookie_key: str = DEVELOPMENT_COOKIE_KEY
    cookie_expiry_days: float = Field(default=14.0, gt=0, le=90)
    session_idle_days: float = Field(default=14.0, gt=0, le=90)
    # The keys of the portal's own digests and sealed secrets, apart from the cookie's, so
    # that rotating COOKIE_KEY (to end every session after a leak) keeps API tokens, recovery
    # codes and authenticator apps working (docs/architecture.md, Keys and their rotation).
    # Each is comma-separated, newest first: new digests and seals use the first, checks
    # accept any. Unset in development, each is the cookie key, as all three were one once.
    token_keys: str = ""
    sealing_keys: str = ""

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    mail_from: str = "SIPSTACK Partner Portal <no-reply@sipstack.test>"
    outbox_dir: Path = DATA_DIR / "outbox"

    # bcrypt's cost; each step doubles the time (12 ≈ 0.25 s here). Tests lower it.
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)

    login_window_minutes: int = Field(default=15, ge=1)
    login_failures_per_account: int = Field(default=5, ge=1)  # from one address
    login_failures_per_account_everywhere: int = Field(default=50, ge=1)
    login_failures_per_address: int = Field(default=20, ge=1)

    # Card payments (docs/architecture.md, rule 6). Without a secret key the sandbox gateway offers
    # Stripe's test cards by name; with one, cards and top-ups go through Stripe Checkout and
    # the balance is credited from the webhook, verified with the webhook secret.
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    # Where the Stripe SDK sends its requests; unset means Stripe's own API. Tests point it
    # at a local fake (tests/support/fake_stripe.py).
    stripe_api_base: str | None = None

    # Where one-time codes that prove a number's ownership go (portal_core/phone.py): the
    # outbox in development, a signed webhook to the deployment's SMS or voice service.
    verification_channel: Literal["outbox", "webhook"] = "outbox"
    verification_webhook_url: str | None = None
    verification_webhook_secret: str | None = None

    # The DNS server(s) that check brand domains' TXT records: comma-separated addresses, or
    # empty for the machine's own resolver; the port and how long a check may wait. Tests
    # point them at a DNS server they start on loopback.
    dns_nameservers: str = ""
    dns_port: int = Field(default=53, ge=1, le=65535)
    dns_timeout_seconds: float = Field(default=5.0, gt=0, le=30)

    # The scheduler of the recurring jobs (the invoice run, auto-recharge's sweep, …) starts
    # with the portal's ASGI app. ``SCHEDULER=off`` leaves it out: the tests, and copies that
    # leave the jobs to ``python -m portal_core scheduler`` (which runs it whatever this says).
    scheduler: bool = True

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @model_validator(mode="after")
    def _public_url_on_the_port(self) -> Settings:
        if not self.public_url:
            self.public_url = f"http://localhost:{self.port}"
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.portal_env == "development":
            # ``make run`` needs nothing, and a development database keeps its tokens.
            if not self.token_key_list:
                self.token_keys = self.cookie_key
            if not self.sealing_key_list:
                self.sealing_keys = self.cookie_key
        self._refuse_placeholder_keys("TOKEN_KEYS", self.token_key_list)
        self._refuse_placeholder_keys("SEALING_KEYS", self.sealing_key_list)
        if self.portal_env != "development" and self.cookie_key == DEVELOPMENT_COOKIE_KEY:
            raise ValueError(
                f"COOKIE_KEY still has its development value: set a long random secret "
                f"before running with PORTAL_ENV={self.portal_env}."
            )
        if self.portal_env == "production" and len(self.cookie_key) < 32:
            raise ValueError("COOKIE_KEY must be at least 32 characters in production.")
        if self.portal_env == "production" and self.uses_stripe and not self.stripe_webhook_secret:
            # Stripe would take partners' money that the portal could never credit.
            raise ValueError(
                "STRIPE_SECRET_KEY is set without STRIPE_WEBHOOK_SECRET: payments could not be "
                "credited. Set the webhook's signing secret (whsec_…) too."
            )
        return self

    def _refuse_placeholder_keys(self, name: str, keys: tuple[str, ...]) -> None:
        if self.portal_env == "development":
            return
        if not keys:
            raise ValueError(
                f"{name} is not set: set a long random secret (comma-separated, newest first) "
                f"before running with PORTAL_ENV={self.portal_env}."
            )
        if DEVELOPMENT_COOKIE_KEY in keys:
            raise ValueError(
                f"{name} still has a development value: set a long random secret before "
                f"running with PORTAL_ENV={self.portal_env}."
            )
        if keys[0] == self.cookie_key:
            # An older key may be the cookie's (the one everything was under before), but new
            # digests and seals must not fall with a leaked cookie key.
            raise ValueError(f"The newest of {name} must be a key of its own, not COOKIE_KEY.")
        if self.portal_env == "production" and any(len(key) < 32 for key in keys):
            raise ValueError(f"Every key of {name} must be at least 32 characters in production.")

    @property
    def token_key_list(self) -> tuple[str, ...]:
        """The keys of API tokens' and codes' digests, newest first."""
        return _key_list(self.token_keys)

    @property
    def sealing_key_list(self) -> tuple[str, ...]:
        """The keys that seal secrets the portal reads back, newest first."""
        return _key_list(self.sealing_keys)

    @property
    def is_development(self) -> bool:
        return self.portal_env == "development"

    @property
    def uses_smtp(self) -> bool:
        return bool(self.smtp_host)

    @property
    def uses_stripe(self) -> bool:
        """Cards and payments go through Stripe (else through the offline sandbox)."""
        return bool(self.stripe_secret_key)


def _key_list(keys: str) -> tuple[str, ...]:
    return tuple(key.strip() for key in keys.split(",") if key.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()

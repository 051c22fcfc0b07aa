"""The Terms of Service: a versioned text in ``data/``; each user's accepted version is kept."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from portal_core.settings import DATA_DIR


@dataclass(frozen=True)
class Terms:
    version: str
    text: str


@lru_cache(maxsize=1)
def current_terms() -> Terms:
    raw = (DATA_DIR / "terms_of_service.md").read_text(encoding="utf-8")
    header, _, text = raw.partition("\n")
    version = header.removeprefix("Version:").strip()
    if not version or header == version:
        raise RuntimeError("data/terms_of_service.md must start with 'Version: …'")
    return Terms(version=version, text=text.strip())

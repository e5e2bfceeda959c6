"""API-key authentication of ``/api/v1``: ``X-API-Key`` compared in constant time.

Keys come from ``SP500_API_KEYS`` and/or the file ``SP500_API_KEYS_FILE`` (one per line,
``#`` comments allowed). A presented key is compared with every configured key by
``hmac.compare_digest`` on SHA-256 digests (equal lengths, no early exit, no length
leak) and the loop never stops at a match, so timing says nothing about which key or
how much of it matched. Keys are never logged: not the configured ones, not the presented.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from pathlib import Path

from src_clean.errors import UserError
from src_clean.settings import Settings

API_KEY_HEADER = "X-API-Key"


def load_api_keys(settings: Settings) -> tuple[bytes, ...]:
    """SHA-256 digests of the configured keys; a ``UserError`` if there are none."""
    keys = [key.get_secret_value() for key in settings.api_keys]
    if settings.api_keys_file is not None:
        keys += read_key_file(settings.api_keys_file)
    if not keys:
        raise UserError(
            "no API key configured",
            "set SP500_API_KEYS (comma separated) or SP500_API_KEYS_FILE (one key per line)",
        )
    return tuple(digest(key) for key in keys)


def read_key_file(path: Path) -> list[str]:
    """Non-empty, non-comment lines of a key file."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise UserError(f"cannot read API key file {path}: {exc.strerror}") from exc
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeyChecker:
    """Whether a presented key is one of the configured ones (constant time)."""

    def __init__(self, digests: Iterable[bytes]) -> None:
        self._digests = tuple(digests)

    def __repr__(self) -> str:
        return f"ApiKeyChecker({len(self._digests)} keys)"

    def valid(self, presented: str | None) -> bool:
        candidate = digest(presented or "")
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(candidate, known)
        return matched and bool(presented)

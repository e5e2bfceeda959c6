"""Redact credentials from URIs and free text before they are logged, printed or recorded.

One function for every place a URI can leak: MLflow tracking URIs, S3 endpoints, database
URLs. ``user:password@`` becomes ``user:***@``; query parameters that carry secrets
(``password``, ``token``, ``secret``, ``key`` and their spellings) keep their name and lose
their value.
"""

from __future__ import annotations

import re

MASK = "***"
# scheme://user:password@host  (the password may hold anything but '@', '/' and whitespace)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<secret>[^@/\s]+)(?=@)")
# ?password=...&  ;token=...  (query strings, DSN key=value pairs)
_QUERY = re.compile(
    r"(?P<head>(?:[?&;\s]|^)[A-Za-z_\-]*(?:password|passwd|pwd|token|secret|api[_\-]?key|"
    r"access[_\-]?key|signature|credential)[A-Za-z_\-]*=)(?P<secret>[^&;\s]+)",
    re.IGNORECASE,
)


def redact(text: str | None) -> str | None:
    """``text`` with every URI password and secret-named parameter replaced by ``***``."""
    if not text:
        return text
    text = _USERINFO.sub(lambda m: m["head"] + MASK, text)
    return _QUERY.sub(lambda m: m["head"] + MASK, text)

"""What a GDELT DOC 2.0 answer means: articles, a throttle, a rejected query, or damage.

GDELT answers almost everything with HTTP 200, so the body decides:

* ``{...}``: JSON, the answer (``{}`` is a valid empty one).
* blank: a transient failure; public clients retry it (gdeltdoc treats an empty body as
  "no JSON, try again").
* text or HTML naming the query (``The specified phrase is too short.``, ``Queries
  containing OR'd terms must be surrounded by ().``, ...): GDELT refusing the query, sent
  as ``text/html`` (gdeltdoc raises "The query was not valid" on any HTML answer). Retrying
  cannot help, so it is a ``UserError`` naming ``--query``.
* ``Please limit requests to one every 5 seconds ...`` (or 429): throttling, retried.
* any other page (a proxy's 502 page): transient, retried.

ArtList JSON sometimes holds backslashes that are not JSON escapes (``\\'`` or ``\\x`` from a
title); ``json.loads(strict=False)`` does not accept them. ``repair_escapes`` drops each
such backslash, as public clients do (gdeltdoc's ``load_json`` removes the offending
character), and counts them so the day's report says how many were repaired.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import requests

from src_clean.acquisition.http import snippet
from src_clean.errors import UserError

THROTTLE_TEXT = "limit requests"
# Words GDELT's query-error messages use; a gateway page ("502 Bad Gateway") has none.
QUERY_PROBLEM = re.compile(
    r"\b(quer(y|ies)|phrase|keyword|parenthes\w*|or'd|timespan|too short|too common)\b",
    re.IGNORECASE,
)
ESCAPE = re.compile(rb'\\(["\\/bfnrt]|u[0-9a-fA-F]{4})|\\')
TAG = re.compile(r"<[^>]*>")


class QueryRejected(UserError):
    """GDELT refused the query itself."""

    def __init__(self, message: str) -> None:
        super().__init__(
            f"GDELT rejected the query: {message}",
            "fix --query (GDELT syntax: quoted phrases, OR only inside parentheses, "
            "keywords of 3+ letters, sourcelang:/sourcecountry:/domain: filters)",
        )


def page_text(content: bytes) -> str:
    """The readable text of a short text or HTML answer, tags and entities removed."""
    text = TAG.sub(" ", content[:4096].decode("utf-8", "replace"))
    return " ".join(html.unescape(text).split())


def retryable_body(response: requests.Response) -> str | None:
    """Why a 200 answer is worth retrying (blank, throttled, an error page), None for JSON;
    ``QueryRejected`` when the page names a query problem."""
    content = response.content.strip()
    if not content:
        return "GDELT answered with an empty body"
    if content[:1] == b"{":
        return None
    text = page_text(content)
    if THROTTLE_TEXT in text.lower():
        return f"GDELT throttled the request: {snippet(content)}"
    if QUERY_PROBLEM.search(text):
        raise QueryRejected(text[:300])
    return f"GDELT answered with a page, not JSON: {snippet(content)}"


def repair_escapes(content: bytes) -> tuple[bytes, int]:
    """``content`` with every backslash that does not start a JSON escape dropped, and how
    many were dropped."""
    dropped = 0

    def keep_valid(match: re.Match[bytes]) -> bytes:
        nonlocal dropped
        if match.group(1) is not None:
            return match.group(0)
        dropped += 1
        return b""

    return ESCAPE.sub(keep_valid, content), dropped


def load_answer(content: bytes) -> tuple[Any, int]:
    """The JSON of an answer and the number of invalid escapes repaired to read it;
    ``ValueError`` when even the repaired text is not JSON."""
    try:
        return json.loads(content, strict=False), 0  # titles may hold raw control characters
    except ValueError:
        repaired, dropped = repair_escapes(content)
        if not dropped:
            raise
        return json.loads(repaired, strict=False), dropped

"""API tokens from the environment or an Airflow connection; never from argv, never logged."""

from __future__ import annotations

import logging
import os

from src_clean import connections
from src_clean.errors import UserError

log = logging.getLogger(__name__)

OANDA_TOKEN_ENV = "OANDA_API_TOKEN"
OANDA_CONN_ID = "oanda_default"


def oanda_token() -> str:
    """``OANDA_API_TOKEN``, else the password of the ``oanda_default`` connection."""
    token = os.environ.get(OANDA_TOKEN_ENV, "").strip() or connections.password(OANDA_CONN_ID)
    if not token:
        raise UserError(
            f"no OANDA API token: {OANDA_TOKEN_ENV} is not set and there is no Airflow "
            f"connection {OANDA_CONN_ID!r} with the token as its password",
            f"export {OANDA_TOKEN_ENV}=<token> (OANDA hub: Manage API Access), or "
            f"airflow connections add {OANDA_CONN_ID} --conn-type http --conn-password <token>",
        )
    return token.strip()

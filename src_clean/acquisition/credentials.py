"""API tokens from the environment or an Airflow connection; never from argv, never logged."""

from __future__ import annotations

import logging
import os

from src_clean.errors import UserError

log = logging.getLogger(__name__)

OANDA_TOKEN_ENV = "OANDA_API_TOKEN"
OANDA_CONN_ID = "oanda_default"


def airflow_password(conn_id: str) -> str | None:
    """The password of Airflow connection ``conn_id``; ``None`` without Airflow or connection.

    Airflow is imported only here, so the fetchers run where it is not installed; its
    INFO lines from loading its configuration are held back while it is.
    """
    airflow_log = logging.getLogger("airflow")
    level = airflow_log.level
    airflow_log.setLevel(max(logging.WARNING, level))
    try:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(conn_id).password or None
    except ImportError:
        return None
    except Exception as exc:  # not defined, or no metadata database outside Airflow
        log.debug("no Airflow connection %s: %s", conn_id, type(exc).__name__)
        return None
    finally:
        airflow_log.setLevel(level)


def oanda_token() -> str:
    """``OANDA_API_TOKEN``, else the password of the ``oanda_default`` connection."""
    token = os.environ.get(OANDA_TOKEN_ENV, "").strip() or airflow_password(OANDA_CONN_ID)
    if not token:
        raise UserError(
            f"no OANDA API token: {OANDA_TOKEN_ENV} is not set and there is no Airflow "
            f"connection {OANDA_CONN_ID!r} with the token as its password",
            f"export {OANDA_TOKEN_ENV}=<token> (OANDA hub: Manage API Access), or "
            f"airflow connections add {OANDA_CONN_ID} --conn-type http --conn-password <token>",
        )
    return token.strip()

"""Connections an orchestrator keeps (Airflow's), looked up without importing it.

Code below ``orchestration`` asks here; ``orchestration.airflow_lookups.install()`` plugs
Airflow in when a task runs in the worker's process, so the CLI, the images and the
service never import Airflow, and a task still finds ``aws_default`` and ``oanda_default``.
Without an installed lookup every answer is ``None`` (the environment decides).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Lookups:
    """``password(conn_id)``: a connection's password; ``aws(service, conn_id)``: the
    credential, region and endpoint fields of an AWS connection (``aws.AwsSettings``)."""

    password: Callable[[str], str | None]
    aws: Callable[[str, str], Mapping[str, Any] | None]


_installed: Lookups | None = None


def install(lookups: Lookups | None) -> None:
    """Use ``lookups`` for this process (``None``: none)."""
    global _installed
    _installed = lookups


def password(conn_id: str) -> str | None:
    """The password of connection ``conn_id``; ``None`` without a lookup or connection."""
    return _installed.password(conn_id) if _installed else None


def aws(service: str, conn_id: str) -> Mapping[str, Any] | None:
    """The AWS connection ``conn_id``'s fields for ``service``; ``None`` without one."""
    return _installed.aws(service, conn_id) if _installed else None

"""Stop a shard that is failing for a reason that more articles will not fix.

The breaker opens (and the shard fails with ``CircuitOpenError``) on:

- a critical error: the model cannot be loaded, memory ran out (``MemoryError``, or any
  ``OutOfMemoryError`` such as torch's, matched by name so torch is never imported), or
  the lake cannot be read or written;
- ``max_consecutive`` article failures in a row (``SP500_CB_MAX_CONSECUTIVE``, default 20);
- a failure rate above ``max_failure_rate`` once at least ``min_articles`` articles were
  attempted (``SP500_CB_MAX_FAILURE_RATE``, default 0.05; ``SP500_CB_MIN_ARTICLES``,
  default 200).

It counts the articles of one attempt: a resumed shard starts with a closed breaker.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from src_clean.settings import Settings

_DEFAULTS = Settings.model_fields
OUT_OF_MEMORY_NAMES = frozenset({"MemoryError", "OutOfMemoryError"})


class CircuitOpenError(RuntimeError):
    """The shard stopped because its circuit breaker opened; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"circuit breaker open: {reason}")
        self.reason = reason


def is_out_of_memory(error: BaseException) -> bool:
    """True for ``MemoryError`` and any ``OutOfMemoryError`` (torch's included)."""
    return any(cls.__name__ in OUT_OF_MEMORY_NAMES for cls in type(error).__mro__)


def describe(error: BaseException) -> str:
    """``Type: message`` of an exception."""
    return f"{type(error).__name__}: {error}"


@dataclasses.dataclass(frozen=True)
class BreakerConfig:
    """Thresholds; ``from_env`` reads the ``SP500_CB_*`` overrides."""

    max_consecutive: int = _DEFAULTS["cb_max_consecutive"].default
    max_failure_rate: float = _DEFAULTS["cb_max_failure_rate"].default
    min_articles: int = _DEFAULTS["cb_min_articles"].default

    def __post_init__(self) -> None:
        if self.max_consecutive < 1 or self.min_articles < 1:
            raise ValueError("max_consecutive and min_articles must be at least 1")
        if not 0.0 <= self.max_failure_rate <= 1.0:
            raise ValueError(f"max_failure_rate {self.max_failure_rate} is not in [0, 1]")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BreakerConfig:
        settings = Settings.from_env(env)
        return cls(
            max_consecutive=settings.cb_max_consecutive,
            max_failure_rate=settings.cb_max_failure_rate,
            min_articles=settings.cb_min_articles,
        )


@dataclasses.dataclass
class CircuitBreaker:
    """Counts article outcomes in order; ``reason`` is set once the breaker opens."""

    config: BreakerConfig = dataclasses.field(default_factory=BreakerConfig)
    attempted: int = 0
    failures: int = 0
    consecutive: int = 0
    reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.reason is not None

    def record_successes(self, count: int) -> None:
        """``count`` articles scored, in a row."""
        self.attempted += count
        if count:
            self.consecutive = 0
        self._check_rate()

    def record_failure(self) -> None:
        """One article the scorer failed on (not a critical error)."""
        self.attempted += 1
        self.failures += 1
        self.consecutive += 1
        if self.consecutive >= self.config.max_consecutive:
            self.trip(f"{self.consecutive} consecutive article failures")
        self._check_rate()

    def trip(self, reason: str) -> None:
        """Open the breaker; the first reason is kept."""
        if self.reason is None:
            self.reason = reason

    def raise_if_open(self) -> None:
        if self.reason is not None:
            raise CircuitOpenError(self.reason)

    def _check_rate(self) -> None:
        if self.attempted < self.config.min_articles:
            return
        rate = self.failures / self.attempted
        if rate > self.config.max_failure_rate:
            self.trip(
                f"failure rate {rate:.1%} ({self.failures}/{self.attempted}) above "
                f"{self.config.max_failure_rate:.1%}"
            )

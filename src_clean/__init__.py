"""S&P 500 news-signal pipeline: bronze → silver → gold → train, one CLI for every stage."""

from __future__ import annotations

__version__ = "0.1.0"

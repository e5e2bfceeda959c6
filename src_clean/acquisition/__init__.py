"""Acquisition: fetch candles (OANDA v20) and news (GDELT DOC 2.0, RSS) into landing folders.

``fetch-market`` and ``fetch-news`` write one file per UTC day that the bronze ingests read
unchanged. Modules: ``http`` (retrying, rate-limited HTTP client), ``landing`` (atomic
per-day files and their fetch state), ``oanda``, ``gdelt``, ``rss``, ``bodies`` (optional
article text), ``progress`` and the two CLIs.
"""

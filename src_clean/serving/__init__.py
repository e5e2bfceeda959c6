"""The scoring and signal service: FinBERT predictions and the champion's latest signal over HTTP.

``python -m src_clean serve`` runs ``app.create_app`` on uvicorn. Modules, one job each:
``settings`` (environment and CLI), ``auth`` (API keys), ``db`` (tables), ``migrate``
(Alembic, scripts shipped in ``migrations/``), ``repository`` (reads/writes, keyset pages),
``scorer`` (the silver sentiment scorers behind one adapter), ``batcher`` (server-side
micro-batching), ``champion`` (the MLflow champion and the latest gold bar), ``metrics``
(Prometheus), ``logs`` (one JSON line per request), ``schemas`` (the OpenAPI models),
``routes`` (endpoints), ``app`` (wiring) and ``cli``.
"""

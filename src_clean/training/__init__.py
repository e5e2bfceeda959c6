"""XGBoost training on the gold training set, tracked in MLflow (``python -m src_clean train``).

One job per module: ``train`` the stage (reads gold, runs the experiment, calls tracking);
``config`` the settings and the ``train`` options made from them; ``folds``,
``walk_forward``, ``baselines``, ``metrics`` and ``costs`` the evaluation; ``experiment``
what a run produced; ``tracking`` the MLflow session and runs; ``registry`` the model
registry; ``promotion`` the champion decision (no MLflow); ``lineage`` the fingerprint,
tags, params and metrics; ``verdict`` the verdict and report in words; ``plots`` the figures;
``champion`` the registered champion as the monitor and the service load it.

Nothing in this package imports torch or transformers: the trainer image ships without them.
"""

"""Pure-python helpers behind the Airflow DAG: settings, stage commands, the docker operator.

Nothing here imports Airflow, pandas or a model library at module level, so the DAG file
parses in well under a second.
"""

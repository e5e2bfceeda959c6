-- Second database on the Airflow metadata server: the MLflow backend store.
CREATE DATABASE mlflow;

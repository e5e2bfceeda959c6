#!/bin/sh
# Run once by the postgres image when its data volume is first initialised: the MLflow
# (tracking + basic-auth) and prediction-service databases, each owned by its own role with its
# own password (MLFLOW_DB_PASSWORD, API_DB_PASSWORD). Airflow keeps the superuser database.
# Passwords changed in .env later are not applied here: ALTER ROLE ... PASSWORD by hand.
set -eu
psql --set ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set mlflow_password="${MLFLOW_DB_PASSWORD:?}" --set api_password="${API_DB_PASSWORD:?}" <<'SQL'
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER mlflow;
CREATE DATABASE mlflow_auth OWNER mlflow;
CREATE ROLE predictions LOGIN PASSWORD :'api_password';
CREATE DATABASE predictions OWNER predictions;
SQL

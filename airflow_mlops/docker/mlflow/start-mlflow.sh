#!/bin/sh
# start-mlflow.sh [mlflow server options] - `mlflow server --app-name basic-auth`.
# The auth app reads its store from an ini file; this writes one whose database_uri is
# $MLFLOW_AUTH_DATABASE_URI (kept out of the image and the command line). The backend store
# comes from $MLFLOW_BACKEND_STORE_URI, the admin user from MLFLOW_AUTH_ADMIN_USERNAME and
# MLFLOW_AUTH_ADMIN_PASSWORD (created on the first start), the CSRF key from
# MLFLOW_FLASK_SERVER_SECRET_KEY: mlflow refuses to start without them.
set -eu
: "${MLFLOW_AUTH_DATABASE_URI:?set MLFLOW_AUTH_DATABASE_URI}"
: "${MLFLOW_BACKEND_STORE_URI:?set MLFLOW_BACKEND_STORE_URI}"
config=$(mktemp -d)/basic_auth.ini
umask 077
cat > "$config" <<INI
[mlflow]
default_permission = READ
database_uri = ${MLFLOW_AUTH_DATABASE_URI}
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
export MLFLOW_AUTH_CONFIG_PATH="$config"
# MLflow's server imports starlette.middleware.wsgi, which warns in every worker: that one
# module's warning only is filtered (a warning of ours, or of another module, still shows)
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::UserWarning:mlflow.server.fastapi_app}"
exec mlflow server --app-name basic-auth "$@"

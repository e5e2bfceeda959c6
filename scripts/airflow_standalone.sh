#!/usr/bin/env bash
# `make airflow`: Airflow 3 standalone (sqlite metadata DB, every component in one process)
# with this repository's DAG, in local execution mode. Without Docker.
# Landing folders default to the sample data of `make demo` (data_clean/raw); override any
# SP500_* setting (see .env.example) by exporting it first.
# Ctrl-C or SIGTERM stops the whole process group airflow started (api-server, scheduler,
# dag-processor, triggerer and the executor's workers), not only `airflow standalone`.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${VENV_BIN:-$ROOT/.venv/bin}"
LAKE="${SP500_LAKE_ROOT:-$ROOT/data_clean}"
STOP_GRACE_S="${STOP_GRACE_S:-20}"

export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/airflow_home}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/airflow_mlops/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export SP500_EXECUTION=local
export SP500_LAKE_ROOT="$LAKE"
export SP500_LANDING_MARKET="${SP500_LANDING_MARKET:-$LAKE/raw/market}"
export SP500_LANDING_NEWS="${SP500_LANDING_NEWS:-$LAKE/raw/news/jsonl}"
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-sqlite:///$LAKE/mlflow.db}"
export PATH="$BIN:$PATH"
mkdir -p "$AIRFLOW_HOME" "$LAKE"

cat <<INFO
Airflow UI:  http://localhost:8080  (DAG sp500_news_pipeline)
Login:       user admin; the generated password is printed below and saved in
             $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated
CLI:         in another shell: export AIRFLOW_HOME=$AIRFLOW_HOME, then for example
             $BIN/airflow dags trigger sp500_news_pipeline
Lake:        $SP500_LAKE_ROOT (landing: $SP500_LANDING_MARKET, $SP500_LANDING_NEWS)
Sentiment:   ${SP500_SENTIMENT_MODEL:-ProsusAI/finbert} (offline: export SP500_SENTIMENT_MODEL=lexicon
             or a download-model folder before make airflow)
MLflow UI:   $BIN/mlflow ui --backend-store-uri $MLFLOW_TRACKING_URI --port 5000
             (or: make mlflow-ui)
INFO

# Its own session and process group: every process airflow starts can be stopped at once.
setsid "$BIN/airflow" standalone &
GROUP=$!

stop() {
    trap - INT TERM
    echo "stopping Airflow (process group $GROUP) ..." >&2
    kill -TERM -- "-$GROUP" 2>/dev/null || true
    for _ in $(seq "$STOP_GRACE_S"); do
        kill -0 -- "-$GROUP" 2>/dev/null || exit 0
        sleep 1
    done
    echo "still running after ${STOP_GRACE_S}s: SIGKILL" >&2
    kill -KILL -- "-$GROUP" 2>/dev/null || true
    exit 0
}
trap stop INT TERM
wait "$GROUP" || true
# airflow exited by itself: take down anything it left behind.
kill -TERM -- "-$GROUP" 2>/dev/null || true

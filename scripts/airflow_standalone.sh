#!/usr/bin/env bash
# `make airflow`: Airflow 3 on this machine (sqlite metadata DB, LocalExecutor) with this
# repository's DAG, in local execution mode. Without Docker.
#
# The api-server, scheduler, dag-processor and triggerer run as one process group (what
# `airflow standalone` starts, minus its log servers). Every port binds to 127.0.0.1
# (AIRFLOW_HOST=0.0.0.0 to open it up): the log servers, which Airflow binds to every
# interface, are not started; the API server reads task logs from the local log folder.
#
# Landing folders default to the sample data of `make demo` (data_clean/raw). On that data
# the daily schedule is off (the sample ends in 2024: every scheduled run would fail for
# want of candles), and an offline machine scores with the lexicon scorer, as `make demo`
# does (SP500_DEMO_FALLBACK). Override any SP500_* setting (see .env.example) by exporting
# it first. Ctrl-C or SIGTERM stops the whole process group.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${VENV_BIN:-$ROOT/.venv/bin}"
LAKE="${SP500_LAKE_ROOT:-$ROOT/data_clean}"
STOP_GRACE_S="${STOP_GRACE_S:-20}"
HOST="${AIRFLOW_HOST:-127.0.0.1}"
PORT="${AIRFLOW_PORT:-8080}"

export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/airflow_home}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/airflow_mlops/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__AUTH_MANAGER=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
export AIRFLOW__API__HOST="$HOST"
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__BASE_URL="http://localhost:$PORT"
export SP500_EXECUTION=local
export SP500_LAKE_ROOT="$LAKE"
SCHEDULE_NOTE="${SP500_SCHEDULE:-the default, 17:30 New York on weekdays}"
if [ -z "${SP500_LANDING_MARKET:-}" ] && [ -z "${SP500_SCHEDULE+set}" ]; then
    export SP500_SCHEDULE=""  # the sample data: no daily run could find candles
    SCHEDULE_NOTE="off on the sample data (export SP500_SCHEDULE='30 17 * * 1-5' for daily runs)"
fi
export SP500_LANDING_MARKET="${SP500_LANDING_MARKET:-$LAKE/raw/market}"
export SP500_LANDING_NEWS="${SP500_LANDING_NEWS:-$LAKE/raw/news/jsonl}"
export SP500_DEMO_FALLBACK="${SP500_DEMO_FALLBACK:-true}"
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-sqlite:///$LAKE/mlflow.db}"
export PATH="$BIN:$PATH"
mkdir -p "$AIRFLOW_HOME" "$LAKE"
# The API's JWT signing key: 32 random bytes kept in AIRFLOW_HOME (Airflow's own default is
# shorter than HS512 wants, and warns InsecureKeyLengthWarning on every token).
if [ -z "${AIRFLOW__API_AUTH__JWT_SECRET:-}" ]; then
    SECRET_FILE="$AIRFLOW_HOME/jwt_secret"
    if [ ! -s "$SECRET_FILE" ]; then
        (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SECRET_FILE")
    fi
    AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$SECRET_FILE")"
    export AIRFLOW__API_AUTH__JWT_SECRET
fi
PASSWORDS="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"

cat <<INFO
Airflow UI:  http://localhost:$PORT  (DAG sp500_news_pipeline; listening on $HOST only)
Login:       user admin; its password is printed below once the API server is up, and
             kept in $PASSWORDS
CLI:         in another shell: export AIRFLOW_HOME=$AIRFLOW_HOME, then for example
             $BIN/airflow dags trigger sp500_news_pipeline
REST:        see docs/airflow.md "Trigger from the REST API" (a token, then POST dagRuns)
Lake:        $SP500_LAKE_ROOT (landing: $SP500_LANDING_MARKET, $SP500_LANDING_NEWS)
Schedule:    $SCHEDULE_NOTE
Sentiment:   ${SP500_SENTIMENT_MODEL:-ProsusAI/finbert}; offline, the lexicon scorer with a banner
             (SP500_DEMO_FALLBACK=$SP500_DEMO_FALLBACK), or trigger with sentiment_model=lexicon
MLflow UI:   $BIN/mlflow ui --backend-store-uri $MLFLOW_TRACKING_URI --port 5000
             (or: make mlflow-ui)
INFO

"$BIN/airflow" db migrate >/dev/null
# Its own session and process group: every process airflow starts can be stopped at once.
setsid bash -c '
    "$0" api-server --host "$1" --port "$2" &
    "$0" scheduler --skip-serve-logs &
    "$0" dag-processor &
    "$0" triggerer --skip-serve-logs &
    wait' "$BIN/airflow" "$HOST" "$PORT" &
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

# The API server writes the generated password on its first start and keeps it: print it
# on every start (airflow itself prints it only the first time).
for _ in $(seq 120); do
    [ -s "$PASSWORDS" ] && break
    kill -0 "$GROUP" 2>/dev/null || break
    sleep 1
done
if [ -s "$PASSWORDS" ]; then
    echo "Login:       admin / $(sed -n 's/.*"admin": *"\([^"]*\)".*/\1/p' "$PASSWORDS")  (from $PASSWORDS)"
fi
wait "$GROUP" || true
# airflow exited by itself: take down anything it left behind.
kill -TERM -- "-$GROUP" 2>/dev/null || true

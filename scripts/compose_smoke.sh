#!/usr/bin/env bash
# compose_smoke.sh - the compose deployment checked end to end, as an engineer would on a fresh
# VM: build the images, start the stack and wait for every healthcheck, write sample data into
# the landing volume, trigger sp500_news_pipeline through Airflow's REST API (explicit logical
# date, lexicon scorer), wait for success, check MLflow (with auth) for the run and the
# registered model's aliases, call the api service's /ready and /api/v1/predict, then `down`.
# Takes minutes; not run in CI (tests/unit/test_compose_static.py checks the files statically).
#
#   scripts/compose_smoke.sh [--clean] [--no-build] [--keep-up]
#     --clean     also remove the named volumes on the way down (default: kept)
#     --no-build  use the images already built
#     --keep-up   leave the stack running afterwards (to look at the UIs)
#   make compose-smoke ARGS=--clean
#
# Needs docker with compose v2, curl and python3 (JSON). Reads .env (scripts/make_env.sh
# writes one with fresh secrets when there is none); shell variables override it, e.g. on a
# machine without download.pytorch.org or the Hugging Face hub:
#   TORCH_INDEX_URL=http://172.17.0.1:8765/simple SKIP_MODEL_DOWNLOAD=true scripts/compose_smoke.sh
# Prints a timing line per step; exits 1 on the first failure, after the failing service's
# last log lines.
set -Euo pipefail
cd "$(dirname "$0")/.."

CLEAN=0 BUILD=1 KEEP=0
for arg in "$@"; do
  case $arg in
    --clean) CLEAN=1 ;;
    --no-build) BUILD=0 ;;
    --keep-up) KEEP=1 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "compose_smoke: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

DAG_ID=sp500_news_pipeline
SAMPLE_START=2024-01-01 # its length comes from the project (step 4): what training needs
REGISTERED_MODEL=sp500-news-xgb EXPERIMENT=sp500-news-signals
WAIT_S=${SMOKE_WAIT_S:-900}
# The classic builder where BuildKit (buildx) is missing; BuildKit otherwise.
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0}
TMP=$(mktemp -d)
STARTED_MS=$(($(date +%s) * 1000))
T0=$(date +%s)

# -- helpers ------------------------------------------------------------------------------
setting() { # NAME [DEFAULT]: the shell's value, else the last NAME= line of .env, else DEFAULT
  local name=$1 value=""
  if [[ -n ${!name:-} ]]; then printf '%s' "${!name}"; return; fi
  [[ -r .env ]] && value=$(grep -E "^$name=" .env | tail -n1 | cut -d= -f2-)
  printf '%s' "${value:-${2:-}}"
}
STEP="" STEP_T0=$T0
begin() { STEP=$1; STEP_T0=$(date +%s); }
ok() { printf '[smoke] %-24s ok   %5ss  %s\n' "$STEP" "$(($(date +%s) - STEP_T0))" "${1:-}"; }
PROFILES=(--profile images --profile celery)
teardown() {
  if ((KEEP)); then echo "[smoke] stack left running (--keep-up): docker compose down"; return; fi
  local t=$(date +%s) args=(down --remove-orphans)
  ((CLEAN)) && args+=(--volumes)
  docker compose "${PROFILES[@]}" "${args[@]}" >"$TMP/down.log" 2>&1 \
    || { cat "$TMP/down.log" >&2; echo "[smoke] down failed" >&2; }
  printf '[smoke] %-24s ok   %5ss  %s\n' down "$(($(date +%s) - t))" \
    "$( ((CLEAN)) && echo 'volumes removed' || echo 'named volumes kept (--clean removes them)')"
}
fail() { # MESSAGE [SERVICE]: timing line, the service's last log lines, down, exit 1
  printf '[smoke] %-24s FAIL %5ss  %s\n' "$STEP" "$(($(date +%s) - STEP_T0))" "$1" >&2
  if [[ -n ${2:-} ]]; then
    echo "[smoke] --- last log lines of $2 ---" >&2
    docker compose logs --no-color --tail 40 "$2" >&2 || true
  fi
  teardown
  rm -rf "$TMP"
  exit 1
}
trap 'fail "interrupted"' INT TERM
json() { # EXPR < JSON: print the Python expression EXPR of the document `d`
  python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$@"
}
CODE="" BODY="$TMP/body"
http() { # METHOD URL [curl args...]: sets CODE, body in $BODY
  local method=$1 url=$2
  shift 2
  CODE=$(curl -sS -o "$BODY" -w '%{http_code}' -X "$method" "$@" "$url" 2>"$TMP/curl.err") \
    || CODE="000 $(cat "$TMP/curl.err")"
}
expect() { # CODE SERVICE WHAT
  [[ $CODE == "$1" ]] || fail "$3: HTTP $CODE (expected $1): $(head -c 400 "$BODY" 2>/dev/null)" "$2"
}

# -- 1. settings ------------------------------------------------------------------------------
begin env
if [[ ! -e .env ]]; then
  scripts/make_env.sh >/dev/null || fail "could not write .env"
  note="wrote .env with generated secrets"
else
  note="using .env"
fi
docker compose config --quiet 2>"$TMP/config.err" || fail "$(cat "$TMP/config.err")"
TAG=$(setting SP500_IMAGE_TAG 0.1.0)
BIND=$(setting SP500_BIND_ADDRESS 127.0.0.1)
[[ $BIND == 0.0.0.0 ]] && BIND=127.0.0.1
AIRFLOW="http://$BIND:$(setting AIRFLOW_PORT 8080)"
MLFLOW="http://$BIND:$(setting MLFLOW_PORT 5000)"
API="http://$BIND:$(setting API_PORT 8000)"
HAVE_API=1
if [[ ! -f airflow_mlops/docker/api/Dockerfile ]]; then
  HAVE_API=0
  note+="; api skipped: no airflow_mlops/docker/api/Dockerfile"
fi
mapfile -t SERVICES < <(docker compose config --services | { ((HAVE_API)) && cat || grep -vx api; })
ok "$note; services: ${SERVICES[*]}"

# -- 2. images ------------------------------------------------------------------------------
IMAGES=(airflow-init mlflow etl-image trainer-image)
((HAVE_API)) && IMAGES+=(api)
if ((BUILD)); then
  for service in "${IMAGES[@]}"; do # one at a time: parallel builds thrash small machines
    begin "build $service"
    docker compose "${PROFILES[@]}" build "$service" >"$TMP/build-$service.log" 2>&1 \
      || { tail -n 30 "$TMP/build-$service.log" >&2; fail "docker compose build $service"; }
    ok
  done
fi
begin "image sizes"
sizes=$(docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^sp500-[a-z]+:$TAG " \
  | sort | tr '\n' ',' | sed 's/,$//; s/,/, /g')
[[ -n $sizes ]] || fail "no sp500-*:$TAG images (run without --no-build)"
ok "$sizes"

begin "pip check"
for image in airflow mlflow etl trainer $( ((HAVE_API)) && echo api); do
  docker run --rm --network none --entrypoint python "sp500-$image:$TAG" -m pip check \
    >"$TMP/pip-check.log" 2>&1 || { cat "$TMP/pip-check.log" >&2; fail "pip check in sp500-$image:$TAG"; }
done
ok "every image's installed requirements are consistent"

# -- 3. up and healthy ------------------------------------------------------------------------
begin "up + healthy"
docker compose up -d "${SERVICES[@]}" >"$TMP/up.log" 2>&1 || {
  cat "$TMP/up.log" >&2
  service=$(grep -oE 'service "?[a-z0-9-]+' "$TMP/up.log" | head -n1 | grep -oE '[a-z0-9-]+$')
  fail "docker compose up" "${service:-airflow-init}"
}
deadline=$(($(date +%s) + WAIT_S))
while :; do
  pending=() bad=""
  while IFS='|' read -r service state health code; do
    [[ " ${SERVICES[*]} " == *" $service "* ]] || continue
    if [[ $service == airflow-init ]]; then
      [[ $state == exited && $code == 0 ]] && continue
      [[ $state == exited ]] && { bad=$service; break; }
    elif [[ $state != running ]]; then
      bad=$service; break
    elif [[ $health == healthy ]]; then
      continue
    fi
    pending+=("$service:${health:-$state}")
  done < <(docker compose ps -a --format '{{.Service}}|{{.State}}|{{.Health}}|{{.ExitCode}}')
  [[ -n $bad ]] && fail "$bad stopped" "$bad"
  ((${#pending[@]} == 0)) && break
  if (($(date +%s) > deadline)); then
    fail "not healthy after ${WAIT_S}s: ${pending[*]}" "${pending[0]%%:*}"
  fi
  sleep 5
done
ok "${#SERVICES[@]} services healthy (airflow-init completed)"

# -- 4. sample data -----------------------------------------------------------------------------
begin "sample data"
# As many sessions as the training defaults need end to end (folds before the holdout and
# the promotion gate: TrainConfig.min_sessions), as calendar days with weekends and a
# holiday week to spare; asked from the image that runs the pipeline, never hard-coded.
MIN_SESSIONS='from src_clean.training.config import TrainConfig; print(TrainConfig().min_sessions())'
if docker image inspect "sp500-etl:$TAG" >/dev/null 2>&1; then
  sessions=$(docker run --rm --network none --entrypoint python "sp500-etl:$TAG" -c "$MIN_SESSIONS") \
    || fail "TrainConfig().min_sessions() in sp500-etl:$TAG"
else
  sessions=$(docker compose exec -T airflow-scheduler python -c "$MIN_SESSIONS") \
    || fail "TrainConfig().min_sessions() in airflow-scheduler" airflow-scheduler
fi
SAMPLE_DAYS=$((sessions * 7 / 5 + 7))
SAMPLE_END=$(date -u -d "$SAMPLE_START + $((SAMPLE_DAYS - 1)) days" +%F)
if docker image inspect "sp500-etl:$TAG" >/dev/null 2>&1; then
  runner="sp500-etl:$TAG"
  docker run --rm --network none -v sp500-data:/opt/sp500 "sp500-etl:$TAG" sample-data \
    --start "$SAMPLE_START" --days "$SAMPLE_DAYS" --out /opt/sp500/landing --seed 7 \
    >"$TMP/sample.log" 2>&1 || { cat "$TMP/sample.log" >&2; fail "sample-data in sp500-etl:$TAG"; }
  # The sample writes every article twice (a JSON file each, and a JSONL file per day: two
  # ways feeds land them); the landing keeps one copy, as one feed delivers, so the monitor's
  # duplicate_rate rates the pipeline, not the sample (50 % duplicates blocked promotion).
  docker run --rm --network none -v sp500-data:/opt/sp500 --entrypoint rm "sp500-etl:$TAG" \
    -rf /opt/sp500/landing/news/jsonl || fail "rm landing/news/jsonl"
else
  runner="airflow-scheduler"
  docker compose exec -T airflow-scheduler python -m src_clean sample-data \
    --start "$SAMPLE_START" --days "$SAMPLE_DAYS" --out /opt/sp500/landing --seed 7 \
    >"$TMP/sample.log" 2>&1 || fail "sample-data in airflow-scheduler" airflow-scheduler
  docker compose exec -T airflow-scheduler rm -rf /opt/sp500/landing/news/jsonl \
    || fail "rm landing/news/jsonl" airflow-scheduler
fi
ok "$SAMPLE_DAYS days from $SAMPLE_START (training needs $sessions sessions) into the sp500-data volume ($runner)"

# -- 5. trigger through the REST API ------------------------------------------------------------
begin "airflow token"
http POST "$AIRFLOW/auth/token" -H 'Content-Type: application/json' \
  -d "{\"username\": \"admin\", \"password\": \"$(setting AIRFLOW_ADMIN_PASSWORD)\"}"
[[ $CODE == 200 || $CODE == 201 ]] || fail "/auth/token: HTTP $CODE" airflow-apiserver
TOKEN=$(json 'd["access_token"]' <"$BODY")
AUTH=(-H "Authorization: Bearer $TOKEN")
http GET "$AIRFLOW/api/v2/dags/$DAG_ID"
expect 401 airflow-apiserver "the REST API without a token"
ok "JWT for admin; the API refuses requests without one"

begin "dag parsed"
while :; do
  http GET "$AIRFLOW/api/v2/dags/$DAG_ID" "${AUTH[@]}"
  [[ $CODE == 200 ]] && break
  http GET "$AIRFLOW/api/v2/importErrors" "${AUTH[@]}"
  if [[ $CODE == 200 ]] && [[ $(json 'd["total_entries"]' <"$BODY") != 0 ]]; then
    fail "import errors: $(json '[e["stack_trace"][-300:] for e in d["import_errors"]]' <"$BODY")" \
      airflow-dag-processor
  fi
  (($(date +%s) > deadline)) && fail "$DAG_ID not parsed after ${WAIT_S}s" airflow-dag-processor
  sleep 3
done
ok

ACTIVE=""
active_runs() { # sets ACTIVE: ids of this DAG's queued or running runs other than ours
  http GET "$AIRFLOW/api/v2/dags/$DAG_ID/dagRuns?state=queued&state=running&limit=100" "${AUTH[@]}"
  expect 200 airflow-apiserver "GET active dagRuns"
  ACTIVE=$(json '" ".join(r["dag_run_id"] for r in d["dag_runs"] if r["dag_run_id"] != sys.argv[2])' \
    "${RUN_ID:-}" <"$BODY")
}
fail_run() { # RUN_ID: mark that run failed (ends it: a running run cannot be deleted, 409)
  http PATCH "$AIRFLOW/api/v2/dags/$DAG_ID/dagRuns/$1" "${AUTH[@]}" \
    -H 'Content-Type: application/json' -d '{"state": "failed"}'
  expect 200 airflow-apiserver "mark the run $1 failed"
}
drop_scheduler_runs() { # the scheduler's run for the latest interval, made once we unpaused
  active_runs
  for other in $ACTIVE; do
    fail_run "$other"
    http DELETE "$AIRFLOW/api/v2/dags/$DAG_ID/dagRuns/$other" "${AUTH[@]}"
    expect 204 airflow-apiserver "delete the scheduler's run $other"
    echo "[smoke]   removed the scheduler's run $other (made when the DAG was unpaused)"
  done
}

begin "trigger"
# Runs an earlier start left queued or running (a `down` mid-run keeps them in the metadata
# volume) would hold this one back: the DAG allows one active run.
active_runs
for stale in $ACTIVE; do
  fail_run "$stale"
  echo "[smoke]   marked $stale failed: left active by an earlier start, it would block ours"
done
# A logical date of its own for every smoke run (logical dates are unique per DAG), with
# run_after = logical date so it goes before the scheduler's run for the latest interval;
# the trigger form's dates cover the sample data.
LOGICAL_DATE=$(date -u -d "$(date -u -d "$SAMPLE_END + 1 day" +%F)T12:00:00Z + $(($(date +%s) % 86400)) seconds" +%Y-%m-%dT%H:%M:%SZ)
RUN_ID="smoke__$(date -u +%Y%m%dT%H%M%S)"
CONF="{\"start_date\": \"$SAMPLE_START\", \"end_date\": \"$SAMPLE_END\", \"sentiment_model\": \"lexicon\"}"
http POST "$AIRFLOW/api/v2/dags/$DAG_ID/dagRuns" "${AUTH[@]}" -H 'Content-Type: application/json' \
  -d "{\"dag_run_id\": \"$RUN_ID\", \"logical_date\": \"$LOGICAL_DATE\", \"run_after\": \"$LOGICAL_DATE\", \"conf\": $CONF}"
expect 200 airflow-apiserver "POST dagRuns"
http PATCH "$AIRFLOW/api/v2/dags/$DAG_ID?update_mask=is_paused" "${AUTH[@]}" \
  -H 'Content-Type: application/json' -d '{"is_paused": false}'
expect 200 airflow-apiserver "unpause"
ok "$RUN_ID, logical date $LOGICAL_DATE, conf $CONF"

begin "pipeline run"
state=queued
while [[ $state != success ]]; do
  (($(date +%s) > deadline + 600)) && fail "$RUN_ID still $state" airflow-scheduler
  sleep 5
  http GET "$AIRFLOW/api/v2/dags/$DAG_ID/dagRuns/$RUN_ID" "${AUTH[@]}"
  expect 200 airflow-apiserver "GET dagRun"
  state=$(json 'd["state"]' <"$BODY")
  drop_scheduler_runs
  if [[ $state == failed ]]; then
    http GET "$AIRFLOW/api/v2/dags/$DAG_ID/dagRuns/$RUN_ID/taskInstances" "${AUTH[@]}"
    read -r task try < <(json '" ".join(next(([t["task_id"], str(t["try_number"])] for t in d["task_instances"] if t["state"] in ("failed", "upstream_failed")), ["?", "1"]))' <"$BODY")
    # Airflow 3 serves task logs as JSON only (text/plain is refused with a 406)
    http GET "$AIRFLOW/api/v2/dags/$DAG_ID/dagRuns/$RUN_ID/taskInstances/$task/logs/$try?full_content=true" \
      "${AUTH[@]}" -H 'Accept: application/json'
    echo "[smoke] --- last log lines of task $task (try $try) ---" >&2
    python3 scripts/airflow_log_tail.py 40 <"$BODY" >&2
    fail "$RUN_ID failed at task $task" airflow-scheduler
  fi
done
http PATCH "$AIRFLOW/api/v2/dags/$DAG_ID?update_mask=is_paused" "${AUTH[@]}" \
  -H 'Content-Type: application/json' -d '{"is_paused": true}'
drop_scheduler_runs
http GET "$AIRFLOW/api/v2/dags/$DAG_ID/dagRuns/$RUN_ID/taskInstances" "${AUTH[@]}"
tasks=$(json '", ".join("%s %.0fs" % (t["task_id"], t["duration"] or 0) for t in sorted(d["task_instances"], key=lambda t: t["start_date"] or "") if t["state"] == "success")' <"$BODY")
ok "success; $tasks"

# -- 6. MLflow, with authentication ---------------------------------------------------------
begin "mlflow"
MLFLOW_AUTH=(-u "admin:$(setting MLFLOW_ADMIN_PASSWORD)")
http GET "$MLFLOW/api/2.0/mlflow/experiments/get-by-name?experiment_name=$EXPERIMENT"
expect 401 mlflow "MLflow without credentials"
http GET "$MLFLOW/api/2.0/mlflow/experiments/get-by-name?experiment_name=$EXPERIMENT" "${MLFLOW_AUTH[@]}"
expect 200 mlflow "experiment $EXPERIMENT"
experiment=$(json 'd["experiment"]["experiment_id"]' <"$BODY")
http POST "$MLFLOW/api/2.0/mlflow/runs/search" "${MLFLOW_AUTH[@]}" -H 'Content-Type: application/json' \
  -d "{\"experiment_ids\": [\"$experiment\"], \"filter\": \"attributes.start_time >= $STARTED_MS\", \"max_results\": 100}"
expect 200 mlflow "runs/search"
runs=$(json 'sum(r["info"]["status"] == "FINISHED" for r in d.get("runs", []))' <"$BODY")
((runs > 0)) || fail "no finished run in $EXPERIMENT since the smoke test started" mlflow
http GET "$MLFLOW/api/2.0/mlflow/registered-models/get?name=$REGISTERED_MODEL" "${MLFLOW_AUTH[@]}"
expect 200 mlflow "registered model $REGISTERED_MODEL"
aliases=$(json '" ".join(sorted("%s=v%s" % (a["alias"], a["version"]) for a in d["registered_model"].get("aliases", [])))' <"$BODY")
[[ $aliases == *challenger=* ]] || fail "$REGISTERED_MODEL aliases: '${aliases}' (no challenger)" mlflow
# What the promotion rules say should happen: a champion when the gates pass, else the
# reason the run recorded (the challenger version's champion_decision tag).
challenger=$(json 'next(a["version"] for a in d["registered_model"]["aliases"] if a["alias"] == "challenger")' <"$BODY")
http GET "$MLFLOW/api/2.0/mlflow/model-versions/get?name=$REGISTERED_MODEL&version=$challenger" "${MLFLOW_AUTH[@]}"
expect 200 mlflow "model version $challenger"
decision=$(json '{t["key"]: t["value"] for t in d["model_version"].get("tags", [])}.get("champion_decision", "")' <"$BODY")
[[ -n $decision ]] || fail "v$challenger has no champion_decision tag" mlflow
if [[ $decision == promoted* ]]; then
  [[ $aliases == *champion=v$challenger* ]] || fail "v$challenger says '$decision' but aliases are '$aliases'" mlflow
elif [[ $aliases == *champion=v$challenger* ]]; then
  fail "v$challenger holds the champion alias but recorded '$decision'" mlflow
fi
ok "401 without credentials; $runs finished runs in $EXPERIMENT; $REGISTERED_MODEL: $aliases; v$challenger: $decision"

# -- 7. the prediction API ------------------------------------------------------------------
if ((HAVE_API)); then
  begin "api"
  http GET "$API/ready"
  expect 200 api "/ready"
  scorer=$(json 'd.get("fallback") or d["model_version"]' <"$BODY")
  http POST "$API/api/v1/predict" -H 'Content-Type: application/json' -d '{"text": "Stocks rally"}'
  expect 401 api "/api/v1/predict without an API key"
  key=$(setting SP500_API_KEYS | cut -d, -f1)
  http POST "$API/api/v1/predict" -H "X-API-Key: $key" -H 'Content-Type: application/json' \
    -d '{"text": "Apple beats estimates and raises guidance; shares surge"}'
  expect 200 api "/api/v1/predict"
  ok "/ready 200 ($scorer); predict 401 without a key; predict: $(head -c 200 "$BODY")"
fi

teardown
rm -rf "$TMP"
echo "[smoke] passed in $(($(date +%s) - T0))s"

# make demo / make test work on a fresh clone: they create .venv and install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAKE ?= data_clean

.PHONY: help install demo test test-fast lint format mlflow-ui airflow onnx serve bench-sentiment bench-pipeline bench-serving clean compose-smoke

help:
	@echo "make demo      - install, generate sample data, run the full pipeline, print a summary"
	@echo "make test      - install, ruff check, ruff format --check, pytest (every tier)"
	@echo "make test-fast - ruff, then the unit and contract tiers only (under 2 minutes)"
	@echo "make lint      - ruff, the docs link check and the layer contract (import-linter)"
	@echo "make mlflow-ui - open the MLflow UI on the demo lake (http://127.0.0.1:5000)"
	@echo "make airflow   - Airflow 3 standalone with the pipeline DAG (http://localhost:8080)"
	@echo "make onnx      - export MODEL (a checkpoint folder) to ONNX + int8 for ONNX Runtime"
	@echo "make serve     - the HTTP API on the demo lake with SQLite (http://127.0.0.1:8000/docs)"
	@echo "make bench-sentiment - FinBERT-shaped scoring throughput per variant (30-50 min on 2 cores)"
	@echo "make bench-pipeline  - 5 years + 100k articles through bronze/silver/gold, daily run, training"
	@echo "make bench-serving   - HTTP load at concurrency 1/8/32, micro-batching on and off (Postgres)"
	@echo "make compose-smoke   - build + run the compose stack end to end (Docker; ARGS=--clean)"

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python src_clean/run_full_pipeline.py --demo --lake $(LAKE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/check_docs.py
	$(BIN)/lint-imports  # the layers, no cycles, Airflow and torch where they belong (pyproject.toml)

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/python -m pytest

# unit and contract tiers only (under 2 minutes); `make test` runs every tier
test-fast: lint
	$(BIN)/python -m pytest -m "unit or contract"

# MLflow's own server imports starlette.middleware.wsgi, which warns at every start and in
# every worker (not ours to fix): filtered for that one module only.
MLFLOW_QUIET = PYTHONWARNINGS=ignore::UserWarning:mlflow.server.fastapi_app

mlflow-ui: $(STAMP)
	$(MLFLOW_QUIET) $(BIN)/mlflow ui --backend-store-uri sqlite:///$(LAKE)/mlflow.db --port 5000

airflow: $(STAMP)
	VENV_BIN=$(abspath $(BIN)) SP500_LAKE_ROOT=$(abspath $(LAKE)) scripts/airflow_standalone.sh

MODEL ?= models/ProsusAI__finbert
onnx: $(STAMP)
	$(BIN)/python -m src_clean export-onnx --model $(MODEL) --int8

# MODEL with its onnx/ export (make onnx), else the lexicon scorer with a loud warning (demo only).
# SP500_API_KEYS defaults to a local development key; the server binds to 127.0.0.1.
serve: $(STAMP)
	@echo "API key: $${SP500_API_KEYS:-dev-local-key}  (set SP500_API_KEYS to change it)"
	SP500_API_KEYS="$${SP500_API_KEYS:-dev-local-key}" $(BIN)/python -m src_clean serve \
		--lake $(LAKE) --database-url sqlite:///$(LAKE)/predictions.db \
		--sentiment-model $(MODEL) --demo-fallback

bench-sentiment: $(STAMP)
	$(BIN)/python benchmarks/sentiment_throughput.py

bench-pipeline: $(STAMP)
	$(BIN)/python benchmarks/pipeline_scale.py

bench-serving: $(STAMP)
	$(BIN)/python benchmarks/serving_load.py

# Not part of `make test`: needs a Docker engine and takes minutes.
compose-smoke:
	scripts/compose_smoke.sh $(ARGS)

clean:
	rm -rf $(LAKE)/bronze $(LAKE)/silver $(LAKE)/gold $(LAKE)/quarantine $(LAKE)/reports $(LAKE)/raw

"""Docker execution mode and the deployment files, without a Docker engine."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path

import airflow_env
import pytest
import yaml

from src_clean import tables
from src_clean.orchestration.stages import STAGES
from src_clean.settings import Settings

REPO = airflow_env.REPO
ETL_IMAGE = "registry.example:5000/sp500-etl:1.2.3"
TRAINER_IMAGE = "registry.example:5000/sp500-trainer:1.2.3"
DOCKER_ENV = {
    "SP500_EXECUTION": "docker",
    "SP500_LAKE_ROOT": "/opt/sp500/lake",
    "SP500_LANDING_MARKET": "/opt/sp500/landing/market",
    "SP500_LANDING_NEWS": "s3://landing-bucket/news",
    "SP500_ETL_IMAGE": ETL_IMAGE,
    "SP500_TRAINER_IMAGE": TRAINER_IMAGE,
    "MLFLOW_TRACKING_URI": "http://mlflow:5000",
    "SP500_SOURCES": "oanda,gdelt,gdelt-gkg,rss",
    "SP500_RSS_FEEDS": "/opt/sp500/feeds.txt",
}
DOCKERFILES = {
    kind: REPO / "airflow_mlops" / "docker" / kind / "Dockerfile"
    for kind in ("etl", "trainer", "airflow")
}
SESSION = (
    dt.datetime(2024, 3, 5, 22, 30, tzinfo=dt.UTC),
    dt.datetime(2024, 3, 6, 22, 30, tzinfo=dt.UTC),
)


@pytest.fixture(scope="module")
def docker_dag():
    return airflow_env.load_dag(DOCKER_ENV)


@pytest.fixture(scope="module")
def local_dag():
    sources = {name: DOCKER_ENV[name] for name in ("SP500_SOURCES", "SP500_RSS_FEEDS")}
    return airflow_env.load_dag({"SP500_EXECUTION": "local", **sources})


@pytest.mark.parametrize("task_id", sorted(STAGES))
def test_stage_runs_in_its_pinned_image(docker_dag, task_id: str) -> None:
    from airflow.providers.docker.operators.docker import DockerOperator

    task = docker_dag.get_task(task_id)
    assert isinstance(task, DockerOperator)
    assert task.image == (TRAINER_IMAGE if STAGES[task_id].image == "trainer" else ETL_IMAGE)
    assert task.auto_remove == "success"
    assert task.mount_tmp_dir is False
    assert task.network_mode == "sp500"
    assert task.doc_md == STAGES[task_id].doc_md


def test_airflow_only_tasks_stay_in_the_worker(docker_dag) -> None:
    from airflow.providers.docker.operators.docker import DockerOperator

    containerised = {t.task_id for t in docker_dag.tasks if isinstance(t, DockerOperator)}
    assert containerised == set(STAGES)


@pytest.mark.parametrize("task_id", sorted(STAGES))
def test_container_command_is_the_local_argv(docker_dag, local_dag, task_id: str) -> None:
    docker_task = docker_dag.get_task(task_id)
    local_argv, local_written = local_dag.get_task(task_id).op_args
    assert (docker_task.command.operator.task_id, docker_task.command.key) == ("plan", task_id)
    assert (local_argv.operator.task_id, local_argv.key) == ("plan", task_id)
    if STAGES[task_id].route:  # both name the tables the run wrote from the same plan key
        for written in (docker_task.written, local_written):
            assert (written.operator.task_id, written.key) == ("plan", f"written:{task_id}")
    else:
        assert docker_task.written == local_written == ()


def test_plan_builds_container_paths(docker_dag, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in DOCKER_ENV.items():
        monkeypatch.setenv(name, value)
    plan = docker_dag.get_task("plan").python_callable
    argv = plan(
        params={"retrain": True}, data_interval_start=SESSION[0], data_interval_end=SESSION[1]
    )
    assert argv["bronze_news"][:5] == [
        "bronze-news",
        "--input",
        "s3://landing-bucket/news",
        "--lake",
        "/opt/sp500/lake",
    ]
    assert argv["train"][:3] == ["train", "--lake", "/opt/sp500/lake"]
    assert argv["written:gold_training"] == [tables.GOLD_TRAINING]
    # the MLflow URI (it may carry credentials) reaches containers by environment only
    assert not any("mlflow" in arg for args in argv.values() for arg in args)


def test_plan_rejects_a_lake_the_containers_cannot_see(
    docker_dag, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in DOCKER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AIRFLOW_VAR_SP500_LAKE_ROOT", "/home/me/lake")  # a Variable override
    plan = docker_dag.get_task("plan").python_callable
    with pytest.raises(ValueError, match="not visible to the stage containers"):
        plan(params={}, data_interval_start=SESSION[0], data_interval_end=SESSION[1])


def test_mounts_and_environment(docker_dag) -> None:
    task = docker_dag.get_task("silver_sentiment")
    mounts = {(m["Source"], m["Target"], m["Type"]) for m in task.mounts}
    assert mounts == {("sp500-data", "/opt/sp500", "volume"), ("sp500-models", "/models", "volume")}
    assert task.environment["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert task.environment["HF_HUB_OFFLINE"] == "1"
    assert task.environment["HF_HOME"] == "/models/hf-cache"


def test_containers_get_the_airflow_context(docker_dag) -> None:
    """MLflow lineage in the trainer container reads the AIRFLOW_CTX_* variables (C4)."""
    from airflow.sdk.definitions.context import Context

    task = docker_dag.get_task("train")
    run = type("Run", (), {"logical_date": SESSION[1], "run_id": "scheduled__x"})()
    ti = type("TI", (), {"task_id": "train", "try_number": 2})()
    context = Context(dag=docker_dag, dag_run=run, ti=ti, run_id="scheduled__x")
    assert "environment" in task.template_fields
    environment = task.render_template(task.environment, context, task.get_template_env())
    assert environment["AIRFLOW_CTX_DAG_ID"] == "sp500_news_pipeline"
    assert environment["AIRFLOW_CTX_DAG_RUN_ID"] == "scheduled__x"
    assert environment["AIRFLOW_CTX_TRY_NUMBER"] == "2"
    assert environment["AIRFLOW_CTX_LOGICAL_DATE"].startswith("2024-03-06 22:30")


@pytest.mark.parametrize(("status", "retried"), [(2, False), (1, True), (137, True)])
def test_a_containers_user_error_is_not_retried(docker_dag, status: int, retried: bool) -> None:
    from airflow.providers.docker.exceptions import DockerContainerFailedException
    from airflow.providers.docker.operators.docker import DockerOperator

    from src_clean.orchestration.task_policy import TaskRejected

    task = docker_dag.get_task("silver_market")
    logs = ["INFO starting", "error: the lake /typo has no table bronze/market/candles. Fix: x"]
    failure = DockerContainerFailedException(
        f"Docker container failed: {{'StatusCode': {status}}}", logs
    )

    def fail(self, context):
        raise failure

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DockerOperator, "execute", fail)
        with pytest.raises(DockerContainerFailedException if retried else TaskRejected) as error:
            task.execute({})
    if not retried:
        assert "the lake /typo has no table bronze/market/candles" in str(error.value)


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"SP500_ETL_IMAGE": "sp500-etl:latest"}, "pinned"),
        ({"SP500_TRAINER_IMAGE": "sp500-trainer"}, "pinned"),
        ({"SP500_LAKE_ROOT": "data_clean"}, "not visible to the stage containers"),
        ({"SP500_EXECUTION": "k8s"}, "SP500_EXECUTION='k8s'"),
    ],
)
def test_unsafe_docker_settings_fail_at_parse_time(env: dict[str, str], error: str) -> None:
    bag = airflow_env.parse_dag_folder({**DOCKER_ENV, **env})
    assert error in "".join(bag.import_errors.values())


# -- deployment files ------------------------------------------------------------------


def _copy_sources(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            parts = [p for p in line.split()[1:] if not p.startswith("--")]
            sources += parts[:-1]
    return sources


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_dockerfile_copy_sources_exist(kind: str) -> None:
    sources = _copy_sources(DOCKERFILES[kind])
    assert sources
    ignored = set((REPO / ".dockerignore").read_text().split())
    for source in sources:
        assert (REPO / source).exists(), source
        assert source not in ignored, source


@pytest.mark.parametrize("kind", ["etl", "trainer"])
def test_stage_images(kind: str) -> None:
    text = DOCKERFILES[kind].read_text()
    assert 'ENTRYPOINT ["python", "-m", "src_clean"]' in text
    assert re.search(r"^USER app$", text, re.MULTILINE)
    assert re.search(r"^FROM python:3\.11-slim", text, re.MULTILINE)
    extra, listing = ("etl", "etl.txt") if kind == "etl" else ("train", "train.txt")
    assert f"--requirement /opt/requirements/{listing}" in text
    # the image installs at least the package extra's libraries (xgboost as xgboost-cpu)
    names = (REPO / "airflow_mlops" / "docker" / "requirements" / listing).read_text().split()
    names += (REPO / "airflow_mlops" / "docker" / "requirements" / "core.txt").read_text().split()
    extra_deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ][extra]
    for dep in extra_deps:
        name = re.split(r"[<>=\[ ]", dep)[0].replace("xgboost", "xgboost-cpu")
        assert name in names or (name == "torch" and kind == "etl"), (kind, name)
    instructions = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert ("torch" in instructions) is (kind == "etl")


def test_etl_image_bakes_the_model_and_runs_offline() -> None:
    text = DOCKERFILES["etl"].read_text()
    for expected in (
        "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu",
        "ARG SENTIMENT_MODEL=ProsusAI/finbert",
        "ARG SKIP_MODEL_DOWNLOAD=false",
        "ARG EXPORT_ONNX=true",
        'export-onnx --model "${folder}";',
        'download-model --model "${SENTIMENT_MODEL}" --out /opt/models',
        "HF_HUB_OFFLINE=1",
    ):
        assert expected in text


def test_airflow_image_is_pinned() -> None:
    text = DOCKERFILES["airflow"].read_text()
    assert "FROM apache/airflow:3.3.2-python3.11" in text
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in text
    assert "COPY --chown=airflow:0 airflow_mlops/dags /opt/airflow/dags" in text


def _interpolate(value: str) -> str:
    """Compose's ``${NAME:-default}`` with nothing set: the default."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_services_wait_for_healthy_dependencies(compose: dict) -> None:
    services = compose["services"]
    expected = {
        "postgres",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "mlflow",
    }
    assert expected <= set(services)
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in services, (name, dependency)
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], dependency
    for name in expected - {"airflow-init"}:
        assert "healthcheck" in services[name], name
    runtime = expected - {"postgres", "airflow-init", "mlflow"}
    for name in runtime:
        rule = services[name]["depends_on"]["airflow-init"]
        assert rule["condition"] == "service_completed_successfully", name


def test_compose_matches_the_docker_mode_defaults(compose: dict) -> None:
    defaults = Settings.defaults()
    assert compose["volumes"]["sp500-data"]["name"] == defaults.docker_data_source
    assert compose["volumes"]["sp500-models"]["name"] == defaults.docker_models_source
    assert compose["networks"]["sp500"]["name"] == defaults.docker_network
    scheduler = compose["services"]["airflow-scheduler"]
    assert f"sp500-data:{defaults.docker_data_dir}" in scheduler["volumes"]
    assert f"sp500-models:{defaults.docker_models_dir}" in scheduler["volumes"]
    env = {name: _interpolate(str(value)) for name, value in scheduler["environment"].items()}
    assert env["SP500_EXECUTION"] == "local"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    Settings.from_env({**env, "SP500_EXECUTION": "docker"}).validate()


def test_celery_profile_adds_a_broker_and_a_worker(compose: dict) -> None:
    services = compose["services"]
    celery = {name for name, service in services.items() if "celery" in service.get("profiles", [])}
    assert celery == {"redis", "airflow-worker"}
    worker = services["airflow-worker"]
    assert worker["command"] == "celery worker"
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    env = {name: _interpolate(str(value)) for name, value in worker["environment"].items()}
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"  # celery only when asked for
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    scheduler = services["airflow-scheduler"]["environment"]
    assert scheduler["AIRFLOW__CORE__EXECUTOR"] == worker["environment"]["AIRFLOW__CORE__EXECUTOR"]
    assert "profiles" not in services["airflow-scheduler"]  # the default stack is unchanged


def test_compose_images_are_pinned(compose: dict) -> None:
    for name, service in compose["services"].items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), name


def test_mlflow_uses_postgres_and_serves_artifacts(compose: dict) -> None:
    mlflow = compose["services"]["mlflow"]
    assert mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg://")
    assert mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"].endswith("@postgres:5432/mlflow")
    args = " ".join(mlflow["command"])
    assert "--serve-artifacts" in args and "--artifacts-destination=/mlartifacts" in args
    init = REPO / "airflow_mlops" / "docker" / "postgres" / "init-databases.sh"
    assert "CREATE DATABASE mlflow OWNER mlflow" in init.read_text()


def test_mlflow_credentials_reach_the_containers_privately(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pw-from-dotenv")
    monkeypatch.setenv("OANDA_API_TOKEN", "oanda-token")
    dag = airflow_env.load_dag(DOCKER_ENV)
    for task_id in ("train", "silver_sentiment"):
        task = dag.get_task(task_id)
        assert task._private_environment == {
            "MLFLOW_TRACKING_USERNAME": "admin",
            "MLFLOW_TRACKING_PASSWORD": "pw-from-dotenv",
            "OANDA_API_TOKEN": "oanda-token",
        }
        assert "pw-from-dotenv" not in repr(task.environment)
        assert "oanda-token" not in repr(task.environment)
        assert "private_environment" not in task.template_fields

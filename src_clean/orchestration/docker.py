"""Docker execution mode: the one house wrapper around ``DockerOperator``.

Every containerised stage gets the same defaults: an image pinned by tag or digest, the data
volume mounted at the same path as in the Airflow workers (so the argv is identical in both
modes), the models cache, offline Hugging Face, the MLflow URI, and the container removed
once it succeeded (kept for inspection when it failed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from src_clean.settings import Settings

if TYPE_CHECKING:
    from docker.types import Mount

    from src_clean.orchestration.docker_operator import StageDockerOperator

HF_CACHE_SUBDIR = "hf-cache"
# A tag follows the last ":" after the last "/" (a ":" before it is a registry port).
_TAG = re.compile(r":(?P<tag>[\w][\w.-]{0,127})$")


def pinned_image(image: str) -> str:
    """Return ``image`` if it names a fixed tag or digest; reject no tag and ``latest``."""
    if "@sha256:" in image:
        return image
    match = _TAG.search(image.rsplit("/", 1)[-1])
    if match is None or match["tag"] == "latest":
        raise ValueError(f"image {image!r} must be pinned to a version tag or digest, not latest")
    return image


def _mount(source: str, target: str) -> Mount:
    from docker.types import Mount

    kind = "bind" if source.startswith("/") else "volume"
    return Mount(target=target, source=source, type=kind)


def stage_mounts(settings: Settings) -> list[Mount]:
    """The data volume (lake and landing folders) and the models cache."""
    return [
        _mount(settings.docker_data_source, settings.docker_data_dir),
        _mount(settings.docker_models_source, settings.docker_models_dir),
    ]


AWS_LOCATION_VARIABLES = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)


# Airflow exports these into a task's own environment (local mode gets them for free); a
# container gets them as templates rendered when the task runs: MLflow lineage reads them.
AIRFLOW_CONTEXT_ENVIRONMENT = {
    "AIRFLOW_CTX_DAG_ID": "{{ dag.dag_id }}",
    "AIRFLOW_CTX_TASK_ID": "{{ ti.task_id }}",
    "AIRFLOW_CTX_DAG_RUN_ID": "{{ run_id }}",
    "AIRFLOW_CTX_LOGICAL_DATE": "{{ dag_run.logical_date or '' }}",
    "AIRFLOW_CTX_TRY_NUMBER": "{{ ti.try_number }}",
}


def stage_environment(settings: Settings) -> dict[str, str]:
    """Environment of every stage container."""
    environment = {
        **AIRFLOW_CONTEXT_ENVIRONMENT,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": f"{settings.docker_models_dir.rstrip('/')}/{HF_CACHE_SUBDIR}",
        "PYTHONUNBUFFERED": "1",
    }
    if settings.mlflow_tracking_uri:
        environment["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    # Where S3 lives is passed on; credentials are not (use an instance or task role).
    environment.update({k: os.environ[k] for k in AWS_LOCATION_VARIABLES if k in os.environ})
    return environment


# Credentials the stage containers need, passed as DockerOperator's private_environment:
# never rendered in the UI or stored with the task.
PRIVATE_VARIABLES = (
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "OANDA_API_TOKEN",  # fetch_market: a container cannot read Airflow connections
)


def stage_private_environment() -> dict[str, str]:
    """The worker's MLflow credentials and OANDA token, if set (never in argv or the UI)."""
    return {k: os.environ[k] for k in PRIVATE_VARIABLES if os.environ.get(k)}


def stage_operator(
    task_id: str,
    argv: Sequence[str] | Any,
    image_kind: str,
    settings: Settings,
    written: Sequence[str] | Any = (),
    **operator_kwargs: Any,
) -> StageDockerOperator:
    """A DockerOperator running ``python -m src_clean <argv>`` in the ``image_kind`` image;
    exit status 2 (a user error) fails the task without retries.

    ``argv`` is a list of strings or an XComArg that resolves to one at run time, as is
    ``written``: the tables a routed stage names in its Asset events once it succeeded.
    """
    from src_clean.orchestration.docker_operator import StageDockerOperator

    return StageDockerOperator(
        task_id=task_id,
        image=pinned_image(settings.image(image_kind)),
        command=argv,
        written=written,
        mounts=stage_mounts(settings),
        environment=stage_environment(settings),
        private_environment=stage_private_environment(),
        docker_url=settings.docker_url,
        network_mode=settings.docker_network,
        auto_remove="success",
        mount_tmp_dir=False,
        **operator_kwargs,
    )

"""A damaged ONNX export manifest (``export.json``) is never trusted and never a
traceback (issue 35.7): no variant counts as validated, so the export is made again."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from src_clean.data_pipelines.silver.scoring import onnx_backend
from src_clean.data_pipelines.silver.scoring.onnx_backend import (
    MANIFEST,
    ONNX_FILES,
    read_manifest,
    safe_onnx_precisions,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A checkpoint folder with an onnx/ export of both variants, validated."""
    folder = tmp_path / "model"
    onnx = folder / onnx_backend.ONNX_DIR
    onnx.mkdir(parents=True)
    for precision in ("onnx-fp32", "onnx-int8"):
        (onnx / ONNX_FILES[precision]).write_bytes(b"graph")
    variants = {p: {"label_agreement": 1.0} for p in ("onnx-fp32", "onnx-int8")}
    (onnx / MANIFEST).write_text(json.dumps({"source_model_id": "m@1", "variants": variants}))
    return folder


def test_a_valid_manifest_lists_its_validated_variants(export: Path) -> None:
    assert set(safe_onnx_precisions(export)) == {"onnx-fp32", "onnx-int8"}


@pytest.mark.parametrize(
    "damage",
    ['{"source_model_id": "m@1", "variants": {"onnx-fp32": {"label_ag', "[1, 2]", "\xff\xfe", ""],
    ids=["truncated", "not an object", "not text", "empty"],
)
def test_a_damaged_manifest_counts_as_no_export_with_a_warning(
    export: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = export / onnx_backend.ONNX_DIR / MANIFEST
    path.write_bytes(damage.encode("latin-1"))
    with caplog.at_level(logging.WARNING):
        assert read_manifest(export) == {}
        assert safe_onnx_precisions(export) == []
    assert f"{path} is" in caplog.text and "made again" in caplog.text


def test_a_variant_without_its_agreement_is_not_validated(export: Path) -> None:
    path = export / onnx_backend.ONNX_DIR / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["variants"]["onnx-int8"] = {"extra": 1}
    manifest["variants"]["onnx-fp32"]["label_agreement"] = "1.0"
    path.write_text(json.dumps(manifest))
    assert safe_onnx_precisions(export) == []

"""``--precision auto``: the fastest validated engine for this CPU and this checkpoint.

Two cached steps, both under one file lock so concurrent first runs (backfill shards, the
daily stage, a worker) build each once and the others wait, then reuse it:

1. **Export** (once per checkpoint weights, ONNX Runtime and torch versions and export
   settings: ``export.cache_key``): ONNX fp32 and int8 graphs, each validated
   against torch fp32 on the check texts (``export``). It lives in the checkpoint's
   ``onnx/`` folder, or under ``--model-cache`` (``SP500_MODEL_CACHE``) in
   ``<cache>/<checkpoint name>-<weights hash>/onnx``. A manifest whose key differs
   (stale) or whose files' hashes do not match (corrupt) is rebuilt, never used.
2. **Choice** (once per CPU flags, threads, text mode and export): a micro-benchmark of
   every candidate on a few batches of the run's own texts (the check texts of the text
   mode when the run has too few): torch fp32, torch bf16 only where the CPU runs it
   natively (validated here on every check text, as its rounding is the CPU's), and each
   ONNX file that passed validation (validated again here when this CPU's flags differ
   from the machine that validated it, e.g. an image built elsewhere). The fastest one
   wins, in one log line with every rate.

On CUDA the choice is fp16 without measuring. Without torch (the API image) only the
exports already validated can be used, fastest first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from src_clean.data_pipelines.silver.scoring.base import (
    BF16_CPU_FLAGS,
    HASH_CHARS,
    ONNX_PRECISIONS,
    Precision,
    TextMode,
    cpu_flags,
    files_sha256,
    write_json,
)
from src_clean.data_pipelines.silver.scoring.check_texts import check_texts, every_check_text
from src_clean.data_pipelines.silver.scoring.export import cache_key, export_onnx
from src_clean.data_pipelines.silver.scoring.hardware import torch_hardware
from src_clean.data_pipelines.silver.scoring.onnx_backend import (
    MIN_LABEL_AGREEMENT,
    ONNX_DIR,
    REFERENCE,
    cores_present,
    read_manifest,
)
from src_clean.data_pipelines.silver.scoring.transformers_backend import (
    checkpoint_folder,
    checkpoint_id,
    hub_kwargs,
    weights_sha256,
)
from src_clean.data_pipelines.silver.scoring.validation import label_agreement
from src_clean.errors import UserError

log = logging.getLogger(__name__)

BENCH_TEXTS = 256  # texts the engines are timed on: the run's own, else the check texts
BENCH_CHUNK = 64  # texts that size an engine's timed pass (one batch of headlines)
BENCH_SECONDS = 3.0  # an engine's passes repeat until it has run this long ...
BENCH_PASSES = 3  # ... or this many times (a tiny model is done in milliseconds)
SETTLE_SECONDS = 0.3  # pause before timing an engine: the previous one's threads stop spinning
LOCK_TIMEOUT_S = 3600.0
CHOICE_PREFIX = "choice-"


@dataclass
class EngineChoice:
    """What ``auto`` picked for one checkpoint here, and how it got there."""

    precision: Precision
    export: str  # built | reused | rebuilt (<why>) | not needed (CUDA)
    choice: str  # measured | cached | rule
    rates: dict[str, float] = field(default_factory=dict)  # texts/s per candidate
    rejected: dict[str, str] = field(default_factory=dict)  # candidate -> why
    one_off_seconds: float = 0.0  # export + validation + benchmark, when done by this run
    folder: str | None = None  # the export folder
    measured_on: str | None = None  # the run's texts | check texts

    def line(self, sentiment_model: str) -> str:
        rates = ", ".join(f"{p} {rate:.1f}/s" for p, rate in self.rates.items())
        rejected = "".join(f"; {p} rejected: {why}" for p, why in self.rejected.items())
        on = f" on {self.measured_on}" if self.measured_on else ""
        return (
            f"sentiment engine for {sentiment_model}: {self.precision} ({self.choice}; export "
            f"{self.export}; {rates or 'no measurement'}{on}{rejected}; one-off "
            f"{self.one_off_seconds:.1f}s)"
        )


def export_folder(checkpoint: Path, model_cache: str | os.PathLike[str] | None) -> Path:
    """Where the checkpoint's export lives: ``<checkpoint>/onnx`` or a cache subfolder."""
    if model_cache is None:
        return checkpoint / ONNX_DIR
    name = f"{checkpoint.resolve().name}-{weights_sha256(checkpoint)[:HASH_CHARS]}"
    return Path(model_cache).expanduser() / name / ONNX_DIR


def export_problem(folder: Path, key: str) -> str | None:
    """Why the export in ``folder`` cannot be used for ``key``; None if it can."""
    manifest = read_manifest(folder)
    if not manifest:
        return "missing"
    if manifest.get("cache_key") != key:
        return "stale: made for other weights, tool versions or settings"
    files = {check["file"]: check["sha256"] for check in manifest["variants"].values()}
    for name, digest in {**files, **manifest.get("files", {})}.items():
        path = folder / name
        if not path.is_file() or files_sha256([path]) != digest:
            return f"corrupt: {name} does not match its recorded sha256"
    return None


def choice_path(folder: Path, text_mode: TextMode, threads: int, device: str) -> Path:
    """The cached choice for this CPU, thread count, text mode and device."""
    flags = " ".join(sorted(cpu_flags()))
    digest = hashlib.sha256(f"{flags}|{threads}|{text_mode}|{device}".encode()).hexdigest()
    return folder / f"{CHOICE_PREFIX}{digest[:16]}.json"


def read_choice(path: Path, key: str) -> EngineChoice | None:
    """The choice cached in ``path`` for the export ``key``; None if absent, for another
    export, or damaged (truncated, not JSON, fields this version does not know or lacks):
    a damaged choice is measured again and rewritten, with a log line that says so."""
    try:
        if not path.is_file():
            return None
        saved = json.loads(path.read_text())
        if not isinstance(saved, dict) or saved.pop("cache_key", None) != key:
            return None
        known = {f.name for f in fields(EngineChoice)}
        unknown = sorted(set(saved) - known)
        if unknown:
            raise TypeError(f"unknown fields {unknown}")
        choice = EngineChoice(
            **{**saved, "export": "reused", "choice": "cached", "one_off_seconds": 0}
        )
        if choice.precision not in choice.rates:
            raise ValueError(f"precision {choice.precision!r} has no measured rate")
        return choice
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("engine choice %s is damaged (%s): measuring again", path, exc)
        return None


def save_choice(path: Path, choice: EngineChoice, key: str) -> None:
    """Cache ``choice``; a cache that cannot be written (read-only) only costs a
    measurement next time, and says so."""
    try:
        write_json(path, {**asdict(choice), "cache_key": key, "folder": None})
    except OSError as exc:
        log.warning(
            "could not save the engine choice to %s (%s): it is measured again next run",
            path,
            exc.strerror or exc,
        )


@dataclass(frozen=True)
class ExportCache:
    """One checkpoint's export folder and the key a usable export there must carry."""

    checkpoint: Path
    checkpoint_id: str
    folder: Path
    key: str

    @classmethod
    def locate(
        cls, sentiment_model: str, model_cache: str | os.PathLike[str] | None, opts: dict[str, Any]
    ) -> ExportCache:
        revision, cache_dir = opts.get("revision"), opts.get("cache_dir")
        checkpoint = checkpoint_folder(sentiment_model, revision, cache_dir)
        name = checkpoint_id(sentiment_model, hub_kwargs(sentiment_model, revision, cache_dir))
        folder = export_folder(checkpoint, model_cache)
        return cls(checkpoint, name, folder, cache_key(weights_sha256(checkpoint)))

    def lock(self) -> Any:
        """The file lock every builder of this export takes (``filelock``: flock on POSIX)."""
        from filelock import FileLock

        self.folder.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.folder.parent / f".{self.folder.name}.lock"), LOCK_TIMEOUT_S)

    def build_if_needed(self) -> str:
        """Build the export unless a valid one is there (call with the lock held); how."""
        problem = export_problem(self.folder, self.key)
        if problem is None:
            return "reused"
        log.info("building the ONNX export of %s in %s (%s)", self.checkpoint, self.folder, problem)
        export = export_onnx(
            str(self.checkpoint), target=self.folder, source_model_id=self.checkpoint_id
        )
        log.info("%s", export.summary())
        return "built" if problem == "missing" else f"rebuilt ({problem})"

    def ensure(self) -> str:
        """``build_if_needed`` under the lock (a valid export is used without waiting)."""
        if export_problem(self.folder, self.key) is None:
            return "reused"
        with self.lock():
            return self.build_if_needed()


def choose_engine(
    sentiment_model: str,
    load: Callable[[Precision, Path], Any],
    *,
    text_mode: TextMode = "headline",
    device: str = "auto",
    model_cache: str | os.PathLike[str] | None = None,
    sample: Sequence[str] | None = None,
    **opts: Any,
) -> EngineChoice:
    """The engine ``auto`` means for ``sentiment_model`` here (see the module docstring).

    ``load(precision, export_folder)`` builds a scorer with the run's options ``opts``
    (``num_threads`` is part of the cached choice's key); ``sample`` holds texts of the
    run to time the engines on (the check texts when it has too few).
    """
    cuda, _ = torch_hardware(device)
    if cuda:
        return EngineChoice("fp16", export="not needed (CUDA)", choice="rule")
    cache = ExportCache.locate(sentiment_model, model_cache, opts)
    threads = opts.get("num_threads") or cores_present()
    saved = choice_path(cache.folder, text_mode, threads, device)
    if export_problem(cache.folder, cache.key) is None and (
        cached := read_choice(saved, cache.key)
    ):
        return with_folder(cached, cache.folder)
    began = time.perf_counter()
    try:
        lock = cache.lock()
        lock.acquire()
    except OSError as exc:  # a read-only cache: usable if its export is valid
        if export_problem(cache.folder, cache.key) is not None:
            raise UserError(
                f"the ONNX export cache {cache.folder} cannot be written ({exc.strerror or exc})"
                " and holds no valid export",
                "pass --model-cache DIR on a writable disk, or build the export there first "
                "(python -m src_clean export-onnx --model CHECKPOINT)",
            ) from None
        log.warning(
            "the engine cache %s is read-only (%s): measuring in memory, not saved",
            cache.folder,
            exc.strerror or exc,
        )
        choice = measure(cache.folder, text_mode, load, sample)
        choice.one_off_seconds = round(time.perf_counter() - began, 2)
        return with_folder(choice, cache.folder)
    with lock:  # concurrent first runs: one builds and measures, the others reuse
        lock.release()  # held once by acquire() above, once by this block
        export = cache.build_if_needed()
        if export == "reused" and (cached := read_choice(saved, cache.key)):
            return with_folder(cached, cache.folder)
        choice = measure(cache.folder, text_mode, load, sample)
        save_choice(saved, choice, cache.key)
    choice.export = export
    choice.one_off_seconds = round(time.perf_counter() - began, 2)
    return with_folder(choice, cache.folder)


def with_folder(choice: EngineChoice, folder: Path) -> EngineChoice:
    choice.folder = str(folder)
    return choice


def candidates(manifest: dict[str, Any]) -> tuple[list[Precision], dict[str, str]]:
    """(precisions to time, rejected with why) from the export's validation and the CPU."""
    timed: list[Precision] = ["fp32"]
    rejected: dict[str, str] = {}
    if BF16_CPU_FLAGS & cpu_flags():
        timed.append("bf16")
    else:
        rejected["bf16"] = "no native bf16 on this CPU (AMX or AVX512-BF16)"
    for precision in ONNX_PRECISIONS:
        check = manifest["variants"].get(precision)
        if check is None:
            rejected[precision] = "not exported"
        elif check["label_agreement"] < MIN_LABEL_AGREEMENT:
            rejected[precision] = (
                f"failed validation: labels agree {check['label_agreement']:.2%} with torch "
                f"fp32 (< {MIN_LABEL_AGREEMENT:.1%}), max|dp| {check['max_abs_dp']:.2f}"
            )
        else:
            timed.append(precision)
    return timed, rejected


def measure(
    folder: Path,
    text_mode: TextMode,
    load: Callable[..., Any],
    sample: Sequence[str] | None = None,
) -> EngineChoice:
    """Time each candidate on the run's own texts (``sample``, when it has enough) or the
    check texts of ``text_mode``; the fastest valid one wins.

    bf16 is validated here on every check text (it rounds as this CPU does), and so is
    each ONNX file when this CPU's flags differ from those it was validated on (an image
    built on another machine).
    """
    manifest = read_manifest(folder)
    checks = check_texts(manifest["check_texts"])
    every = every_check_text(checks)
    reference = np.load(folder / REFERENCE)
    other_cpu = manifest.get("validated_on_cpu_flags") != sorted(cpu_flags())
    own = [text for text in sample or () if text and text.strip()]
    on_own = len(own) >= BENCH_CHUNK
    texts = (own if on_own else checks[text_mode])[:BENCH_TEXTS]
    timed, rejected = candidates(manifest)
    log.info(
        "choosing the engine: timing %s on %d %s (about %.0f s each, once per machine)",
        ", ".join(timed),
        len(texts),
        "of the run's texts" if on_own else "check texts",
        SETTLE_SECONDS + BENCH_SECONDS,
    )
    scorers = {}
    for precision in timed:
        scorer = load(precision, folder)
        if precision == "bf16" or (other_cpu and precision in ONNX_PRECISIONS):
            agreement = label_agreement(scorer.probabilities(every), reference)
            if agreement < MIN_LABEL_AGREEMENT:
                rejected[precision] = (
                    f"labels agree {agreement:.2%} with torch fp32 on this CPU "
                    f"(< {MIN_LABEL_AGREEMENT:.1%})"
                )
                continue
        scorers[precision] = scorer
    rates = {precision: round(rate, 1) for precision, rate in race(scorers, texts).items()}
    best = max(rates, key=rates.__getitem__)
    return EngineChoice(
        best,
        export="reused",
        choice="measured",
        rates=rates,
        rejected=rejected,
        measured_on="the run's texts" if on_own else "check texts",
    )


def race(scorers: dict[str, Any], texts: list[str]) -> dict[str, float]:
    """Texts/s of each scorer on ``texts``, scored as a run scores them (one call: sorted,
    token-budget batches), one engine after the other.

    Each engine is warmed up, then a first chunk sizes its timed pass: as many texts as it
    scores in ``BENCH_SECONDS`` (at least a chunk, at most all of ``texts``), repeated
    until ``BENCH_SECONDS`` have run or ``BENCH_PASSES`` passes are done. A pause before
    each engine lets the previous one's spinning threads (torch's OpenMP, ONNX Runtime's
    pool) go idle.
    """
    rates = {}
    for name, scorer in scorers.items():
        time.sleep(SETTLE_SECONDS)
        scorer.probabilities(texts[:16])  # warm-up
        began = time.perf_counter()
        scorer.probabilities(texts[:BENCH_CHUNK])
        first = BENCH_CHUNK / (time.perf_counter() - began)
        timed = texts[: max(BENCH_CHUNK, int(first * BENCH_SECONDS))]
        seconds, scored = 0.0, 0
        for _ in range(BENCH_PASSES):
            began = time.perf_counter()
            scorer.probabilities(timed)
            seconds += time.perf_counter() - began
            scored += len(timed)
            if seconds >= BENCH_SECONDS:
                break
        rates[name] = scored / seconds
        log.info("engine %s: %.1f texts/s (%d of %d timed)", name, rates[name], len(rates),
                 len(scorers))  # fmt: skip
    return rates

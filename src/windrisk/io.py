"""Small file helpers shared by every stage."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from windrisk.settings import S3Settings


@contextmanager
def atomic_path(target: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside ``target``; rename it onto ``target`` only if the block succeeds.

    Works for files and directories; a failure or a kill leaves no half-written ``target``.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix, dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # the caller creates it (file or directory)
    try:
        yield tmp
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_json_atomic(target: str | Path, payload: Any) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(payload, indent=1, sort_keys=True, default=str) + "\n")


LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Resources worth naming in a job's first log line (Snakemake adds internal ones such as _cores).
NAMED_RESOURCES: Final = ("mem_mb", "runtime")


def job_label(smk: Any) -> str:
    """``rule wind_region (region_id=y1_x1)``: the rule and wildcards of a Snakemake script job."""
    wildcards = ", ".join(f"{name}={value}" for name, value in smk.wildcards.items())
    return f"rule {smk.rule}" + (f" ({wildcards})" if wildcards else "")


@contextmanager
def job_logging(smk: Any) -> Iterator[logging.Logger]:
    """Log a Snakemake ``script:`` job to its rule's log file (stderr when the rule has none).

    Every logger's INFO and up goes there, the first record names the job (rule, wildcards,
    threads, resources), and an exception that ends the job is recorded with its full traceback
    (the package's errors name the input and the fix) and re-raised, so the job still fails.
    Yields the logger named after the rule; the handler is removed on exit.
    """
    handler: logging.Handler = logging.FileHandler(smk.log[0]) if smk.log else logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    log = logging.getLogger(f"windrisk.{smk.rule}")
    label = job_label(smk)
    resources = dict(smk.resources.items())
    asked = ", ".join(f"{key} {resources[key]}" for key in NAMED_RESOURCES if key in resources)
    log.info("%s: started, %d thread(s)%s", label, smk.threads, f", {asked}" if asked else "")
    try:
        yield log
    except BaseException as exc:
        if not (isinstance(exc, SystemExit) and exc.code in (0, None)):
            log.exception("%s failed:", label)  # the traceback ends with the error's message
        raise
    else:
        log.info("%s: done", label)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


def s3_client(settings: S3Settings | None = None, timeout_s: float = 60) -> Any:
    """boto3 S3 client. ``settings``: the config's ``store.s3`` (endpoint, region, path style,
    anonymous); otherwise the endpoint is ``AWS_ENDPOINT_URL``. Credentials only from the environment."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    config = Config(
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        retries={"max_attempts": 3, "mode": "standard"},
        signature_version=UNSIGNED if settings and settings.anonymous else None,
        s3={"addressing_style": "path"} if settings and settings.force_path_style else None,
    )
    endpoint = (settings and settings.endpoint_url) or os.environ.get("AWS_ENDPOINT_URL") or None
    region = settings.region if settings else None
    return boto3.client("s3", endpoint_url=endpoint, region_name=region, config=config)


def files_digest(root: Traversable, names: Iterable[str]) -> str:
    """SHA-256 over the names and bytes of files under ``root`` (package data): for a rule's
    params, so new contents re-run it but a new install location does not."""
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(name.encode() + b"\0" + root.joinpath(name).read_bytes())
    return digest.hexdigest()

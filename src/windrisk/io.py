"""Small file helpers shared by every stage."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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


def log_to(path: str | Path) -> None:
    """Send this process's log records (INFO and up) to a rule's log file."""
    import logging

    logging.basicConfig(
        filename=str(path), level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def s3_client(settings: Mapping[str, Any] | None = None, timeout_s: float = 60) -> Any:
    """boto3 S3 client. ``settings``: the config's ``store.s3`` keys (endpoint, region, path style,
    anonymous); otherwise the endpoint is ``AWS_ENDPOINT_URL``. Credentials only from the environment."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    settings = settings or {}
    config = Config(
        connect_timeout=timeout_s, read_timeout=timeout_s, retries={"max_attempts": 3, "mode": "standard"},
        signature_version=UNSIGNED if settings.get("anonymous") else None,
        s3={"addressing_style": "path"} if settings.get("force_path_style") else None,
    )
    endpoint = settings.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL") or None
    return boto3.client("s3", endpoint_url=endpoint, region_name=settings.get("region"), config=config)

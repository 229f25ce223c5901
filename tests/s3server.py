"""A real S3-compatible server (moto, server mode) on 127.0.0.1 for store tests and benchmarks.

moto enforces If-Match / If-None-Match, so Icechunk's conditional commits are exercised for real.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"moto server did not listen on 127.0.0.1:{port} within {timeout_s} s")


@contextmanager
def moto_server() -> Iterator[str]:
    """Start ``python -m moto.server`` on a free port; yield its endpoint URL; stop it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **S3_ENV},
    )
    try:
        _wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def s3_env() -> Iterator[None]:
    """Dummy credentials in the environment (the store reads them only from there)."""
    old = {k: os.environ.get(k) for k in S3_ENV}
    os.environ.update(S3_ENV)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def moto_client(endpoint: str) -> Any:
    """A boto3 client of the moto server at ``endpoint`` with its dummy credentials."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def new_bucket(endpoint: str) -> str:
    """Create a fresh bucket on the server and return its name."""
    name = f"windrisk-{uuid.uuid4().hex[:12]}"
    moto_client(endpoint).create_bucket(Bucket=name)
    return name


def s3_store_section(endpoint: str, bucket: str, prefix: str = "store") -> dict[str, Any]:
    """The config ``store`` section for a store on the moto server."""
    return {
        "url": f"s3://{bucket}/{prefix}",
        "s3": {"region": "us-east-1", "endpoint_url": endpoint, "allow_http": True, "force_path_style": True},
    }


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """One moto server per test module, with dummy credentials in the environment."""
    with s3_env(), moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_client(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A boto3 client of the moto server; AWS_ENDPOINT_URL points GDAL and windrisk at it too."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")

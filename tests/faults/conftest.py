"""The fault-injection suite's deployment: started once per module, left running between tests (a test
that stops a service starts it again before it ends)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_stack import Stack, postgres_bin
from s3_server import MotoServer


@pytest.fixture(scope="module", params=["disk", "s3"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The deployment, with recordings on the local disk, then again in object storage (a moto S3 server
    in its own process): every fault case must hold with both."""
    if postgres_bin() is None or shutil.which("redis-server") is None:
        pytest.skip("PostgreSQL and Redis server binaries are needed (Debian packages postgresql, redis-server)")
    # Not under pytest's tmp folder: that one is private to root, and PostgreSQL runs as postgres.
    s = Stack(Path(tempfile.mkdtemp(prefix="serweb-faults-")))
    server = MotoServer().start() if request.param == "s3" else None
    try:
        if server is not None:
            s.use_object_storage(server)
        s.init_postgres()
        s.start_redis()
        s.manage("migrate", "--noinput")  # registers and activates the shipped model
        s.manage("collectstatic", "--noinput")
        s.start_web()
        s.start_worker()
        s.start_beat()
        yield s
    finally:
        s.stop_all()
        if server is not None:
            server.stop()
        shutil.rmtree(s.base, ignore_errors=True)

"""The whole product, started as `make run` starts it (`spa dev`: demo city, three
apps, three workers, the desk, the gateway), on free ports in a temp dir: once on the
embedded Redis `make run` uses, once on a 6-node Redis Cluster with RabbitMQ (quorum
queues) on a vhost of the session's own; every test that uses the stack runs on both.

The stack is shared by the session; tests keep out of each other's way by using
their own days, ids and keys. Processes named in STARTED_BY_TESTS are left out of
`spa dev` so that tests can stop, kill and start them (honcho would stop the whole
stack when one of its processes exits).
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from tests.cluster import scaled_out
from tests.e2e.stack import running_stack


@pytest.fixture(scope="session", params=["redis", "cluster"])
def stack(request, tmp_path_factory, smtp_server):
    with ExitStack() as cleanup:
        extra_env = {}
        if request.param == "cluster":
            extra_env = scaled_out(cleanup, tmp_path_factory).env
        yield cleanup.enter_context(running_stack(
            tmp_path_factory.mktemp(f"stack-{request.param}"), smtp_server, extra_env))

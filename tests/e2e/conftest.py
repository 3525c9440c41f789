"""The whole product, started as `make run` starts it (`spa dev`: embedded Redis,
demo city, three apps, three workers, gateway), on free ports in a temp dir.

The stack is shared by the session; tests keep out of each other's way by using
their own days, ids and keys. Processes named in STARTED_BY_TESTS are left out of
`spa dev` so that tests can stop, kill and start them (honcho would stop the whole
stack when one of its processes exits).
"""

from __future__ import annotations

import pytest

from tests.e2e.stack import running_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory, smtp_server):
    with running_stack(tmp_path_factory.mktemp("stack"), smtp_server) as running:
        yield running

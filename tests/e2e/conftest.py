"""The whole product, started as `make run` starts it (`spa dev`: embedded Redis,
demo city, three apps, three workers, gateway), on free ports in a temp dir.

The stack is shared by the session; tests keep out of each other's way by using
their own days, ids and keys. Processes named in STARTED_BY_TESTS are left out of
`spa dev` so that tests can stop, kill and start them (honcho would stop the whole
stack when one of its processes exits).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from services.common.devstack import ROOT
from tests.e2e.stack import STARTED_BY_TESTS, shutdown, stack_env, wait_until_up


@pytest.fixture(scope="session")
def stack(tmp_path_factory, smtp_server):
    data_dir = tmp_path_factory.mktemp("stack") / ".spa"
    env = stack_env(data_dir, smtp_server.url)
    log = open(data_dir.parent / "stack.log", "w")  # noqa: SIM115 - closed at teardown
    without = [arg for name in STARTED_BY_TESTS for arg in ("--without", name)]
    launcher = subprocess.Popen([sys.executable, "-m", "services.cli", "dev", *without],
                                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        running = wait_until_up(launcher, data_dir, env, smtp_server)
        running.start_process("notifications-worker")
        yield running
        for name in list(running.workers):
            running.stop_process(name)
    finally:
        shutdown(launcher, log)



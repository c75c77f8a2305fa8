"""Fixtures of the end-to-end suite: the real `tracegate` binary, a real
PostgreSQL (a fresh database per test), real HTTP clients.

The environment comes from scripts/test (`make test`):

  TRACEGATE_BIN           the binary under test
  TRACEGATE_RELEASE_BIN   its release build, for test_hostile_clients.py, whose
                          latency targets are for the binary people run
  TRACEGATE_TEST_DSN      libpq DSN of a throwaway cluster (database tracegate)
  TRACEGATE_TEST_PG_DIR   the cluster's directory, for `scripts/pg stop|start`
  TRACEGATE_TEST_PG_PORT  its port

Missing variables fail the tests that need them (they never skip). To run the
suite by hand:

  scripts/pg start .data/e2e-pg $(scripts/pg free-port)
  export TRACEGATE_BIN=$PWD/.build/debug/tracegate TRACEGATE_TEST_PG_DIR=.data/e2e-pg \\
         TRACEGATE_TEST_PG_PORT=<port> TRACEGATE_TEST_DSN="$(scripts/pg dsn .data/e2e-pg)"
  .venv/bin/python -m pytest -q -p no:cacheprovider Tests/EndToEnd
  scripts/pg destroy .data/e2e-pg

Fixture order matters for teardown: ask for `db` before `gateway` so that the
gateways stop before their database is dropped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import psycopg
import pytest

from e2e_helpers import Database, GatewayLauncher, PgCluster, fresh_database

HOW_TO_RUN = "run the suite through scripts/test (`make test`), or see Tests/EndToEnd/conftest.py to run it by hand"


def _require_env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        pytest.fail(f"environment variable {name} is not set; {HOW_TO_RUN}", pytrace=False)
    return value


@pytest.fixture(scope="session")
def tracegate_bin() -> str:
    path = _require_env("TRACEGATE_BIN")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"TRACEGATE_BIN={path} is not an executable file (build it with `swift build`)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def release_bin() -> str:
    path = _require_env("TRACEGATE_RELEASE_BIN")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"TRACEGATE_RELEASE_BIN={path} is not an executable file "
                    "(build it with `swift build -c release --product tracegate`)", pytrace=False)
    return path


@pytest.fixture
def release_gateway(release_bin: str, tmp_path: Path) -> Iterator[GatewayLauncher]:
    """As `gateway`, with the release build."""
    launcher = GatewayLauncher(release_bin, tmp_path)
    yield launcher
    failures = launcher.stop_all()
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    dsn = _require_env("TRACEGATE_TEST_DSN")
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        pytest.fail(f"cannot connect to TRACEGATE_TEST_DSN={dsn!r}: {e}", pytrace=False)
    return dsn


@pytest.fixture(scope="session")
def pg_cluster() -> PgCluster:
    """The cluster behind TRACEGATE_TEST_DSN, for tests that stop and restart it."""
    return PgCluster(_require_env("TRACEGATE_TEST_PG_DIR"), _require_env("TRACEGATE_TEST_PG_PORT"))


@pytest.fixture
def db(pg_dsn: str) -> Iterator[Database]:
    """A new, empty database for this test only, dropped afterwards."""
    with fresh_database(pg_dsn) as database:
        yield database


@pytest.fixture
def gateway(tracegate_bin: str, tmp_path: Path) -> Iterator[GatewayLauncher]:
    """Starts gateways: `gateway.start(config_dict_or_yaml, env=..., wait=True)`.

    Each gets a free port (`{port}` in the config), its config and log file in
    tmp_path. At teardown every running gateway gets SIGTERM and must exit 0.
    """
    launcher = GatewayLauncher(tracegate_bin, tmp_path)
    yield launcher
    failures = launcher.stop_all()
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)

"""The cluster test's services: the two-node Ray cluster of tests/cluster/local_cluster.py running cluster/rayservice.yaml's
Serve config on PostgreSQL (a fresh database), Redis (a database of its own) and a Milvus server, with the pod
environment the manifest gives its containers."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis

from api.scopes import ALL_SCOPES, PLATFORM_TENANT
from tests.cluster import manifest
from tests.cluster.local_cluster import LocalCluster, local_cluster
from tests.milvus_server import free_ports, milvus_server
from tests.serve.test_serve_graph import models_config

FIGURES = pytest.StashKey[list[str]]()  # lines for the terminal summary: record with config.stash.setdefault(FIGURES, [])
TENANT_PREFIX = "cluster-"  # every tenant the cluster tests create starts with it
REDIS_DB = 14  # the other Redis tests use database 15 (MAS_TEST_REDIS_URL)
# Test-only knobs over the pod environment: a dead worker's async runs are taken over after 5 s, not 30.
TEST_ENVIRONMENT = {"MAS_RUN_LEASE_SECONDS": "5", "MAS_WORKER_POLL_SECONDS": "0.5", "PYTHONUNBUFFERED": "1"}


@dataclass
class Deployed:
    """The running service and the stores behind it."""

    nodes: LocalCluster
    api: str
    app_key: str
    config: dict  # the Serve config deployed
    environment: dict[str, str]  # every node's (the pod's env with the test's secrets)

    @property
    def database_url(self) -> str:
        return self.environment["MAS_DATABASE_URL"]

    @property
    def redis_url(self) -> str:
        return self.environment["MAS_REDIS_URL"]

    def token(self, http: httpx.Client) -> str:
        """A platform token for the app key (tests.serve.test_serve_graph.Brand asks its service for one)."""
        issued = http.post("/v1/auth/token", headers={"X-App-Key": self.app_key})
        assert issued.status_code == 200, issued.text
        return issued.json()["access_token"]


def with_database(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


@pytest.fixture(scope="module")
def secrets_for_the_test(postgres_database: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """What Secret ``mas-secrets`` holds in production, pointing at this machine's services. No Elasticsearch here:
    its empty URL leaves the keyword indexes on SQLite FTS5 files in the data dir, which the nodes share on one disk."""
    with milvus_server(tmp_path_factory.mktemp("cluster-milvus")) as milvus:
        yield {
            "database-url": postgres_database,
            "redis-url": with_database(redis_url, REDIS_DB),
            "jwt-secret": secrets.token_urlsafe(48),
            "webhook-secret": secrets.token_urlsafe(48),
            "milvus-uri": milvus.uri,
            "elasticsearch-url": "",
            "openai-api-key": "",
        }


@pytest.fixture(scope="module")
def deployed(secrets_for_the_test: dict[str, str], tmp_path_factory: pytest.TempPathFactory,
             request: pytest.FixtureRequest) -> Iterator[Deployed]:
    rayservice = manifest.rayservice()
    data_dir = tmp_path_factory.mktemp("cluster-data")
    environment = {
        **manifest.pod_environment(rayservice, secrets_for_the_test), **TEST_ENVIRONMENT,
        "MAS_DATA_DIR": str(data_dir), "MAS_MODELS_CONFIG": str(models_config(data_dir / "models.yaml")),
        "MAS_MILVUS_COLLECTION_PREFIX": f"cluster_{uuid.uuid4().hex[:8]}",
    }
    port, = free_ports(1)
    config = manifest.scaled_down_for_a_two_core_box(manifest.serve_config_v2(rayservice), port)
    started = time.monotonic()
    with local_cluster(environment, manifest.head_start_params(rayservice)) as nodes:
        up = time.monotonic()
        nodes.deploy(config)
        request.config.stash.setdefault(FIGURES, []).append(
            f"cluster: head and {len(nodes.workers)} workers up in {up - started:.1f} s, "
            f"Serve application RUNNING {time.monotonic() - up:.1f} s later")
        yield Deployed(nodes, f"http://127.0.0.1:{port}", create_app_key(environment), config, environment)
    with redis.from_url(environment["MAS_REDIS_URL"]) as leftovers:  # windows, limits, run events of the test's tenants
        for key in leftovers.scan_iter(match=f"mas:{TENANT_PREFIX}*"):
            leftovers.delete(key)


def create_app_key(environment: dict[str, str]) -> str:
    """The first key, made with `mas keys create` where the database settings are (cluster/README.md's step)."""
    created = subprocess.run(
        [sys.executable, "-m", "mas.cli", "keys", "create", "--name", "cluster-test", "--tenant", PLATFORM_TENANT,
         "--scopes", ",".join(ALL_SCOPES)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **environment},
    )
    assert created.returncode == 0, created.stdout + created.stderr
    match = re.search(r"app key: (\S+)", created.stdout)
    assert match, created.stdout
    return match.group(1)




def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The node-loss figures (docs/benchmarks.md quotes them)."""
    for line in config.stash.get(FIGURES, []):
        terminalreporter.write_line(line)


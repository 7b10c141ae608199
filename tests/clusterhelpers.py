"""The cluster profile's loopback services (Postgres, Redis, RabbitMQ) for tests: a test that
needs them skips, naming the missing one, only when it is not running."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import uuid

import pytest

SERVICES = {"postgres": 5432, "redis": 6379, "rabbitmq": 5672}


def missing_services(*names: str) -> list[str]:
    gone = []
    for name in names or SERVICES:
        try:
            socket.create_connection(("127.0.0.1", SERVICES[name]), timeout=1).close()
        except OSError:
            gone.append(f"{name} (127.0.0.1:{SERVICES[name]})")
    return gone


def needs(*names: str):
    gone = missing_services(*names)
    return pytest.mark.skipif(bool(gone), reason=f"cluster profile test: not running here: {', '.join(gone)}")


def cluster_settings(data_dir, redis_db: int = 11, **overrides):
    """A throw-away cluster profile: its own database prefix and Redis database."""
    from conftest import settings_for

    prefix = f"mla_test_{uuid.uuid4().hex[:10]}"
    return settings_for(
        data_dir,
        profile="cluster",
        postgres_database_prefix=prefix,
        redis_connection=f"127.0.0.1:6379,db={redis_db}",
        **overrides,
    )


def redis_client(settings):
    """A client on the settings' Redis database, the connection string read by Feast's parser."""
    import redis
    from feast.infra.online_stores.redis import RedisOnlineStore

    (node, *_), params = RedisOnlineStore._parse_connection_string(settings.redis_connection)
    return redis.Redis(host=node["host"], port=int(node["port"]), db=int(params.get("db", 0)))


def flush_redis(settings) -> None:
    redis_client(settings).flushdb()


def in_another_process(settings, code: str) -> object:
    """Run ``code`` (which sets ``result``) in a fresh interpreter on the same settings (from
    the environment, as a second host would get them); returns ``result`` through JSON."""
    script = (
        "import json\nfrom ml_assets.core.settings import Settings\nsettings = Settings()\n"
        f"{code}\nprint('RESULT=' + json.dumps(result, default=str))\n"
    )
    env = {**os.environ, **settings.environment()}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT="))
    return json.loads(line.removeprefix("RESULT="))


@contextlib.contextmanager
def throwaway_databases(settings, dagster_url_in_environment: bool = False):
    """The profile's databases for one test, dropped whatever happens in it (and the Dagster
    instance's URL variable, which its dagster.yaml reads, set for the span when asked)."""
    from ml_assets.core import engines

    engines.create_databases(settings)
    if dagster_url_in_environment:
        os.environ["ML_ASSETS_DAGSTER_POSTGRES_URL"] = settings.database_url("dagster")
    try:
        yield settings
    finally:
        os.environ.pop("ML_ASSETS_DAGSTER_POSTGRES_URL", None)
        engines.drop_databases(settings)

"""Cluster profile, on the loopback services: the Feast SQL registry (Postgres) and Redis
online store seen across processes, and the Postgres warehouse equal to the DuckDB one."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from clusterhelpers import cluster_settings, flush_redis, in_another_process, needs
from conftest import settings_for, short_features
from lakehelpers import build_offline, request_rows

from ml_assets.core import engines, lake
from ml_assets.core.model import TARGET

pytestmark = [needs("postgres", "redis"), pytest.mark.cluster]
DAYS = 10


@pytest.fixture
def cluster(tmp_path):
    settings = cluster_settings(tmp_path / "data")
    engines.create_databases(settings)
    flush_redis(settings)
    try:
        yield settings
    finally:
        flush_redis(settings)
        engines.drop_databases(settings)


def test_apply_in_one_process_is_seen_by_another(cluster):
    build_offline(cluster, DAYS)
    seen = in_another_process(
        cluster,
        "from ml_assets.core import engines\nresult = engines.feature_repo(settings).apply()",
    )
    repo = engines.feature_repo(cluster)
    specs = repo.specs
    assert seen["FeatureView"] == sorted(v.name for v in specs.FEATURE_VIEWS)
    # this process reads the same definitions from Postgres, not from a file of its own
    assert repo.store().config.registry.registry_type == "sql"
    assert not (cluster.feast_dir / "registry.db").exists()
    assert sorted(v.name for v in repo.store().list_feature_views()) == seen["FeatureView"]


def test_online_load_to_redis_is_read_by_another_process(cluster):
    build_offline(cluster, DAYS)
    repo = engines.feature_repo(cluster)
    repo.apply()
    last, previous = cluster.day(DAYS - 1), cluster.day(DAYS - 2)
    written = in_another_process(
        cluster,
        "import datetime as dt\nfrom ml_assets.core import engines\nrepo = engines.feature_repo(settings)\n"
        f"result = [repo.load_online_day('customer_activity', dt.date.fromisoformat('{last}')),\n"
        # an older day after the newest: Redis keeps the newest per entity
        f"          repo.load_online_day('customer_activity', dt.date.fromisoformat('{previous}'))]",
    )
    assert written[0] > 0
    expected = lake.read_partition(cluster.lake_dir, "customer_activity_source", last).set_index(
        "customer_id"
    )
    customers = expected.index[:50].tolist()
    online = (
        repo.store()
        .get_online_features(
            features=["customer_activity:amount_sum_30d", "customer_activity:txn_count_7d"],
            entity_rows=[{"customer_id": c} for c in customers],
        )
        .to_df()
        .set_index("customer_id")
    )
    assert repo.store().config.online_store.type == "redis"
    for column in ("amount_sum_30d", "txn_count_7d"):
        np.testing.assert_allclose(
            online.loc[customers, column].astype(float), expected.loc[customers, column]
        )
    older = lake.read_partition(cluster.lake_dir, "customer_activity_source", previous).set_index(
        "customer_id"
    )
    assert any(
        c in older.index and older.loc[c, "amount_sum_30d"] != expected.loc[c, "amount_sum_30d"]
        for c in customers
    )


def test_the_services_reader_on_redis_serves_what_feast_serves(cluster):
    """The service's reader, one Redis pipeline for the four views, against the SDK's full path
    on the same Redis store, value for value: known and unknown entities, one request and
    batches."""
    from ml_assets.core.features.contract import online_features
    from ml_assets.core.features.online_read import OnlineFeatureReader, RedisRows

    build_offline(cluster, DAYS)
    repo = engines.feature_repo(cluster)
    repo.apply()
    last = cluster.day(DAYS - 1)
    for view in repo.specs.FEATURE_VIEWS:
        repo.load_online_day(view.name, last)
    store, specs = repo.store(), repo.specs
    day = lake.read_partition(cluster.lake_dir, "raw_transactions", last).sample(100, random_state=3)
    rows = request_rows(day)
    rows += [
        {**rows[0], "customer_id": 10**12},
        {**rows[1], "merchant_id": 10**12},
        {**rows[2], "customer_id": 10**12, "merchant_id": 10**12},
    ]
    reader = OnlineFeatureReader(store, specs)
    assert isinstance(reader.batched, RedisRows)
    service = store.get_feature_service(specs.FEATURE_SERVICE)
    for chunk in (rows[:1], rows[-3:], rows):
        ours, feasts = reader.read(chunk), online_features(store, service, chunk, specs)
        for feature in specs.model_features():
            assert ours.values[feature] == feasts.values[feature], feature
        for view, stamps in feasts.view_timestamps.items():
            assert np.array_equal(ours.view_timestamps[view], stamps), view
    served = reader.read(rows).values
    # teeth: missing values are in it, and values vary
    assert served["amount_avg_30d"][-3] is None and served["merchant_category"][-2] is None
    assert len(set(served["txn_count_30d"])) > 10


def _log(day: dt.date, n: int, version: str) -> pd.DataFrame:
    rng = np.random.default_rng(n)
    return pd.DataFrame(
        {
            "transaction_id": [f"t{day}-{i}" for i in range(n)],
            "partition_date": [day] * n,
            "event_timestamp": pd.Timestamp(day, tz="UTC") + pd.to_timedelta(rng.integers(0, 86_400, n), "s"),
            "model_version": version,
            "source": "batch",
            "score": rng.random(n),
            "amount": np.where(rng.random(n) < 0.1, np.nan, rng.gamma(2, 30, n)),
            "txn_count_7d": rng.integers(0, 20, n),
        }
    )


def test_postgres_warehouse_answers_like_the_duckdb_file(cluster, tmp_path):
    from ml_assets.core.monitoring.daily import predictions_of
    from ml_assets.core.scoring import write_predictions

    postgres = engines.warehouse(cluster)
    duck = engines.warehouse(settings_for(tmp_path / "embedded"))
    days = [dt.date(2026, 3, 1), dt.date(2026, 3, 2)]
    for target in (postgres, duck):
        for day in days:
            write_predictions(target, _log(day, 300, "1"), day)
        write_predictions(target, _log(days[0], 200, "2"), days[0])  # a re-run replaces the partition
    assert postgres.exists() and type(postgres).__name__ == "PostgresWarehouse"
    a = predictions_of(postgres, days[0], days[1]).sort_values("transaction_id").reset_index(drop=True)
    b = predictions_of(duck, days[0], days[1]).sort_values("transaction_id").reset_index(drop=True)
    assert len(a) == len(b) == 500  # 200 + 300: nothing duplicated
    assert list(a.columns) == list(b.columns)
    assert a["amount"].isna().sum() == b["amount"].isna().sum() > 0
    for column in ("score", "amount", "txn_count_7d"):
        np.testing.assert_allclose(a[column].astype(float), b[column].astype(float))
    assert (
        pd.to_datetime(a["event_timestamp"], utc=True) == pd.to_datetime(b["event_timestamp"], utc=True)
    ).all()
    assert (pd.to_datetime(a["partition_date"]) == pd.to_datetime(b["partition_date"])).all()


def test_training_set_and_scores_equal_the_embedded_profile(tmp_path):
    """Same lake, both profiles: the point-in-time training set (DuckDB offline store in both,
    the registry on Postgres in one) and the scores of one model on it are equal."""
    from ml_assets.core.model import Hyperparameters, score, train
    from ml_assets.core.training.dataset import SPLIT, build_training_set

    # short lookbacks: a training window after 12 simulated days
    cluster = cluster_settings(
        tmp_path / "data", training_window_days=7, validation_days=2, **short_features(4)
    )
    embedded = cluster.model_copy(update={"profile": "embedded"})
    engines.create_databases(cluster)
    try:
        build_offline(cluster, 12)
        as_of = cluster.day(12)
        frames = []
        for settings in (embedded, cluster):
            repo = engines.feature_repo(settings)
            repo.apply()
            frame, _ = build_training_set(as_of, settings, repo)
            frames.append(frame.sort_values("transaction_id").reset_index(drop=True))
        assert engines.feature_repo(cluster).store().config.registry.registry_type == "sql"
        a, b = frames
        assert len(a) == len(b) > 1000 and a[TARGET].sum() > 0
        assert a.isna().sum().to_dict() == b.isna().sum().to_dict()
        pd.testing.assert_frame_equal(a, b)
        specs = engines.feature_repo(cluster).specs
        model = train(a[a[SPLIT] == "train"], Hyperparameters(), specs)
        features = specs.model_features()
        np.testing.assert_array_equal(score(model, a, features), score(model, b, features))
    finally:
        engines.drop_databases(cluster)


def test_one_rollout_lease_and_one_evidence_table_across_replicas_on_postgres(cluster):
    """The cluster profile's shared rollout (core/rollout/shared.py): one holder of the advisory
    lock at a time, taken over when the holder's session ends; every replica's evidence in one
    table, and one start time per step whoever asks first."""
    from ml_assets.core.rollout.shared import Call, EvidenceStore, PostgresLease, shared_rollout

    first, second = shared_rollout(cluster), shared_rollout(cluster)  # two replicas' views
    assert first.lease.held() and not second.lease.held() and first.lease.held()
    first.lease.release()  # the holder's session ends (a process that dies ends it too)
    assert second.lease.held() and not PostgresLease(cluster.database_url("warehouse")).held()
    call = Call([0.1, 0.2], [0.15, 0.1], [False, False], [False, False], 0.001, 0.002, 1)
    for replica in (first, second):
        replica.record("7", 2, call)
        replica.flush()
    window = EvidenceStore(cluster.database_url("warehouse")).window("7", 2)
    assert (len(window), window.attempts, window.canary_requests) == (4, 2, 2)
    assert first.evidence.step_started("7", 2) == second.evidence.step_started("7", 2) == window.started
    second.lease.release()

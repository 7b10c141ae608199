"""The Feast repo over a data directory: the FeatureStore with its registry and online
store under ``<data_dir>/feast``, ``feast apply`` and per-day online materialization."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import importlib.util
from pathlib import Path
from types import ModuleType

from ml_assets.core.features.catalogue import load_specs


@dataclasses.dataclass(frozen=True)
class FeatureRepo:
    """``registry_url`` (a SQLAlchemy URL) and ``redis_connection`` select the cluster profile's
    SQL registry and Redis online store; unset, both are files under ``data_dir``. The offline
    store stays DuckDB either way (its point-in-time joins are the tested ones)."""

    repo_dir: Path
    data_dir: Path
    registry_url: str | None = None
    redis_connection: str | None = None
    project: str | None = None  # the Feast project (default: feature_store.yaml's)

    @property
    def specs(self) -> ModuleType:
        return load_specs(self.repo_dir)

    def config(self):
        import yaml
        from feast.repo_config import RepoConfig

        raw = yaml.safe_load((Path(self.repo_dir) / "feature_store.yaml").read_text())
        feast_dir = Path(self.data_dir) / "feast"
        feast_dir.mkdir(parents=True, exist_ok=True)
        raw["registry"]["path"] = str(feast_dir / "registry.db")
        raw["online_store"]["path"] = str(feast_dir / "online_store.db")
        raw["project"] = self.project or raw["project"]
        if self.registry_url:
            raw["registry"] = {
                "registry_type": "sql",
                "path": self.registry_url,
                "cache_ttl_seconds": raw["registry"].get("cache_ttl_seconds", 60),
                "sqlalchemy_config_kwargs": {"pool_pre_ping": True},
            }
        if self.redis_connection:
            raw["online_store"] = {"type": "redis", "connection_string": self.redis_connection}
        return RepoConfig(repo_path=Path(self.repo_dir), **raw)

    def store(self):
        """A FeatureStore over this repo and data directory."""
        from feast import FeatureStore

        return FeatureStore(repo_path=str(self.repo_dir), config=self.config())

    def objects(self):
        """The repo's Feast objects for this data directory (``features.build``).

        features.py is imported by path: Feast's own ``parse_repo`` imports modules relative
        to the working directory, and ``apply_total`` chdirs the whole process into the repo,
        which would move the working directory of a Dagster run."""
        self.specs  # noqa: B018  (features.py imports the catalogue by its module name)
        spec = importlib.util.spec_from_file_location(
            "ml_assets_feature_repo", Path(self.repo_dir) / "features.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.build(self.data_dir)

    def writing(self, what: str):
        """Held around every write while either the registry or the online store is a file (the
        embedded profile): each takes one writer at a time, and core/file_lock.py says why
        Dagster's pool is not enough. The cluster profile's SQL registry and Redis need no lock."""
        from ml_assets.core.file_lock import held

        if self.registry_url and self.redis_connection:
            return contextlib.nullcontext()
        return held(Path(self.data_dir) / "feast" / "writer.lock", f"Feast {what} in {self.data_dir}")

    def apply(self) -> dict[str, list[str]]:
        """``feast apply`` through Feast's own planner: registers every object of the repo and
        deletes whatever the registry holds that the repo no longer defines (views, on-demand
        views, services, entities). Returns the names per kind."""
        objects = self.objects()
        with self.writing("apply"):
            return self._apply(objects)

    def _apply(self, objects) -> dict[str, list[str]]:
        from feast.feature_view import DUMMY_ENTITY
        from feast.repo_contents import RepoContents
        from feast.repo_operations import apply_total_with_repo_instance

        store = self.store()
        before = _registered(store)
        contents = RepoContents(
            projects=[],
            # Feast's parse_repo always adds the placeholder entity of entityless views (the
            # on-demand view's); without it, online reads through the feature service fail
            entities=[*objects.entities.values(), DUMMY_ENTITY],
            data_sources=[v.batch_source for v in objects.feature_views.values()] + [objects.request_source],
            feature_views=list(objects.feature_views.values()),
            feature_services=list(objects.feature_services.values()),
            on_demand_feature_views=list(objects.on_demand_views.values()),
            stream_feature_views=[],
            label_views=[],
            permissions=[],
        )
        apply_total_with_repo_instance(
            store, store.project, store.registry, contents, skip_source_validation=False
        )
        after = _registered(self.store())
        return after | {"deleted": sorted(set().union(*before.values()) - set().union(*after.values()))}

    def load_online_day(self, view: str, day: dt.date) -> int:
        """The day's rows of ``view`` (its lake source) into the online store, in bulk and
        newest-wins (see online_load.py); returns the number of entities written."""
        from ml_assets.core import lake
        from ml_assets.core.features.online_load import load_day

        spec = next(v for v in self.specs.FEATURE_VIEWS if v.name == view)
        frame = lake.read_partition(Path(self.data_dir) / "lake", spec.source_table, day)
        # both online writers read the row's time as event_timestamp; a snapshot table has its own
        frame = frame.rename(columns={spec.timestamp_field: "event_timestamp"})
        if self.redis_connection:
            return _write_day_through_feast(self.store(), view, frame, day)
        with self.writing(f"online load of {view} for {day}"):
            return load_day(self.store(), view, frame, day)

    def materialize_day(self, view: str, day: dt.date) -> None:
        """Feast's own ``materialize`` of the rows stamped on ``day`` (the reference the bulk
        loader is tested against). Feast filters the window inclusively at both ends, so it
        ends one microsecond before the next day."""
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        end = start + dt.timedelta(days=1) - dt.timedelta(microseconds=1)
        with self.writing(f"materialize of {view} for {day}"):
            self.store().materialize(start_date=start, end_date=end, feature_views=[view])


def _write_day_through_feast(store, view: str, frame, day: dt.date) -> int:
    """Redis: Feast's own pipelined writer, which keeps the newest row per entity by itself
    (it skips a write older than the stored timestamp); the bulk loader is SQLite's."""
    from ml_assets.core.features.online_load import newest_of_day

    (join_key,) = store.get_feature_view(view).join_keys
    rows = newest_of_day(frame, join_key, day)
    if not rows.empty:
        store.write_to_online_store(view, rows)
    return len(rows)


def _registered(store) -> dict[str, list[str]]:
    return {
        "Entity": sorted(e.name for e in store.list_entities()),
        "FeatureView": sorted(v.name for v in store.list_feature_views()),
        "OnDemandFeatureView": sorted(v.name for v in store.list_on_demand_feature_views()),
        "FeatureService": sorted(s.name for s in store.list_feature_services()),
    }

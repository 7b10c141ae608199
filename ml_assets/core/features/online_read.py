"""Online feature reads for the request path, through Feast's online-store interface.

``FeatureStore.get_online_features`` through the feature service costs ~1.1-2 ms a
transaction here, most of it outside the store read: request-context checks, the
on-demand view's generic ``transform_dict`` (~0.25 ms, copying and re-keying the inputs),
and building and converting a response proto. This reader keeps the parts that define the
values and drops that overhead, ~0.3 ms a transaction:

- rows come from the configured online store's own ``online_read`` (the SDK's OnlineStore
  interface, so any store Feast supports works: Redis in the cluster profile), except on
  Feast's SQLite store, where one statement reads every view's rows of a request
  (``SqliteRows``): four ``online_read`` calls cost ~0.5 ms a transaction, ~0.13 ms each, most of
  it per-call Python in Feast and four statements where one does;
- request-time features come from the on-demand view's registered function, as applied
  (read back from the registry, not imported from the repo);
- values come out as Feast returns them: missing -> None, NaN from the on-demand view ->
  None, event timestamps truncated to whole seconds.

A test compares it with ``get_online_features`` on the same rows, value for value,
including unknown entities and missing values; the pinned Feast version keeps it honest."""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np

from ml_assets.core.features.contract import OnlineRows


class OnlineFeatureReader:
    def __init__(self, store, specs: ModuleType):
        from feast.infra.online_stores.helpers import get_online_store_from_config

        self.config = store.config
        self.online = get_online_store_from_config(store.config.online_store)
        self.specs = specs
        self.views = [(spec, store.get_feature_view(spec.name)) for spec in specs.FEATURE_VIEWS]
        on_demand = store.get_on_demand_feature_view(specs.ON_DEMAND_VIEW)
        if on_demand.mode != "python":
            raise ValueError(
                f"the on-demand view {on_demand.name!r} is in {on_demand.mode!r} mode; the online reader "
                "calls python-mode functions on columns: set mode='python' in feature_repo/features.py"
            )
        self.transform = on_demand.feature_transformation.udf
        self.request_fields = list(specs.REQUEST_FIELDS)
        self.sqlite = SqliteRows(self.online, self.config, self.views) if _is_sqlite(self.online) else None

    def _rows(self, keys: dict[str, list]) -> list[list[tuple[int, dict | None]]]:
        """Per view, per entity row: (event time in epoch seconds, 0 when missing; the
        feature Values by name, or None)."""
        per_view = [keys[self.specs.ENTITIES[spec.entity]] for spec, _ in self.views]
        if self.sqlite is not None:
            return self.sqlite.read(per_view)
        out = []
        for (spec, view), view_keys in zip(self.views, per_view, strict=True):
            found = self.online.online_read(self.config, view, view_keys, list(spec.features))
            out.append([(int(ts.timestamp()) if ts is not None else 0, row) for ts, row in found])
        return out

    def read(self, entity_rows: list[dict]) -> OnlineRows:
        """The feature service's values for ``entity_rows`` (entity keys and request fields)."""
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        keys: dict[str, list] = {}
        for join_key in self.specs.ENTITIES.values():
            keys[join_key] = [
                EntityKey(join_keys=[join_key], entity_values=[Value(int64_val=row[join_key])])
                for row in entity_rows
            ]
        values: dict[str, list] = {}
        stamps: dict[str, list[int]] = {}
        for (spec, _), found in zip(self.views, self._rows(keys), strict=True):
            stamps[spec.name] = [ts for ts, _ in found]
            for feature in spec.features:
                values[feature] = [_python(row.get(feature)) if row else None for _, row in found]
        for field in self.request_fields:
            values[field] = [row[field] for row in entity_rows]
        for feature, column in self.transform(values).items():
            values[feature] = [None if isinstance(v, float) and math.isnan(v) else v for v in column]
        return OnlineRows(values, {view: np.asarray(ts, dtype="float64") for view, ts in stamps.items()})


def _is_sqlite(online) -> bool:
    from feast.infra.online_stores.sqlite import SqliteOnlineStore

    return isinstance(online, SqliteOnlineStore)


class SqliteRows:
    """Every view's rows for a request in one statement (``UNION ALL``) on Feast's SQLite online
    store, through Feast's own connection and table names, decoded as its ``online_read``
    decodes them (the Value protobuf of each feature, the row's event time). This reads Feast's
    table layout, as the bulk loader (online_load.py) writes it: pinned Feast version, and a
    test compares this reader with ``get_online_features`` value for value."""

    def __init__(self, online, config, views: list) -> None:
        from feast.infra.online_stores.sqlite import _quote_id, _table_id

        self.conn = online._get_conn(config)
        self.key_version = config.entity_key_serialization_version
        versioned = config.registry.enable_online_feature_view_versioning
        self.tables = [_quote_id(_table_id(config.project, view, versioned)) for _, view in views]
        self._statements: dict[tuple[int, ...], str] = {}

    def _statement(self, counts: tuple[int, ...]) -> str:
        if counts not in self._statements:
            # event_ts as an expression, so sqlite3 hands back Feast's stored epoch seconds
            # instead of running its registered "timestamp" converter on every row
            self._statements[counts] = " UNION ALL ".join(
                f"SELECT {i}, entity_key, feature_name, value, CAST(event_ts AS INTEGER) FROM {table} "
                f"WHERE entity_key IN ({','.join('?' * n)})"
                for i, (table, n) in enumerate(zip(self.tables, counts, strict=True))
            )
        return self._statements[counts]

    def read(self, keys_per_view: list[list]) -> list[list[tuple[int, dict | None]]]:
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.protos.feast.types.Value_pb2 import Value

        serialized = [
            [serialize_entity_key(k, entity_key_serialization_version=self.key_version) for k in keys]
            for keys in keys_per_view
        ]
        params = [key for keys in serialized for key in keys]
        found: list[dict[bytes, tuple[int, dict]]] = [{} for _ in self.tables]
        statement = self._statement(tuple(len(keys) for keys in serialized))
        for view, key, feature, blob, event_ts in self.conn.execute(statement, params):
            value = Value()
            value.ParseFromString(blob)
            _, features = found[view].setdefault(key, (int(event_ts), {}))
            features[feature] = value
        return [[found[i].get(key, (0, None)) for key in keys] for i, keys in enumerate(serialized)]


def _python(value):
    """A Feast Value as the SDK returns it: its set field, or None when it holds none."""
    if value is None:
        return None
    kind = value.WhichOneof("val")
    return None if kind is None else getattr(value, kind)

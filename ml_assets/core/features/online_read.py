"""Online feature reads for the request path, through Feast's online-store interface.

``FeatureStore.get_online_features`` through the feature service costs ~1.1-2 ms a
transaction here, most of it outside the store read: request-context checks, the
on-demand view's generic ``transform_dict`` (~0.25 ms, copying and re-keying the inputs),
and building and converting a response proto. This reader keeps the parts that define the
values and drops that overhead, ~0.3 ms a transaction:

- rows come in one round trip for every view of a request on the profiles' stores: one
  statement on Feast's SQLite store (``SqliteRows``), one pipeline on its Redis store
  (``RedisRows``). Four ``online_read`` calls, one per view, cost ~0.5 ms a transaction on
  SQLite, most of it per-call Python in Feast and four statements where one does. Any other store
  goes through its own ``online_read`` (the SDK's OnlineStore interface);
- request-time features come from the on-demand view's registered function, as applied
  (read back from the registry, not imported from the repo);
- values come out as Feast returns them: missing -> None, NaN from the on-demand view ->
  None, event timestamps truncated to whole seconds.

A test compares it with ``get_online_features`` on the same rows, value for value,
including unknown entities and missing values; the pinned Feast version keeps it honest."""

from __future__ import annotations

import math
import struct
from types import ModuleType

import numpy as np

from ml_assets.core.features.contract import OnlineRows
from ml_assets.core.features.online_load import DOUBLE_TAG

KEY_CACHE_SIZE = 200_000  # serialized entity keys kept (~100 bytes each); cleared when full
DOUBLE = struct.Struct("<d")


class OnlineFeatureReader:
    def __init__(self, store, specs: ModuleType, cache_rows: int = 0):
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
        self.join_keys = [specs.ENTITIES[spec.entity] for spec, _ in self.views]  # per view
        self.batched = _batched_rows(self.online, self.config, self.views, cache_rows)

    def _rows(self, ids: dict[str, list[int]]) -> list[list[tuple[int, dict | None]]]:
        """Per view, per entity row: (event time in epoch seconds, 0 when missing; the
        feature values by name as Python values, or None)."""
        per_view = [(join_key, ids[join_key]) for join_key in self.join_keys]
        if self.batched is not None:
            return self.batched.read(per_view)
        out = []
        for (spec, view), view_keys in zip(self.views, map(entity_keys, per_view), strict=True):
            out.append(_stamped(self.online.online_read(self.config, view, view_keys, list(spec.features))))
        return out

    def read(self, entity_rows: list[dict]) -> OnlineRows:
        """The feature service's values for ``entity_rows`` (entity keys and request fields)."""
        ids = {join_key: [row[join_key] for row in entity_rows] for join_key in self.specs.ENTITIES.values()}
        values: dict[str, list] = {}
        stamps: dict[str, list[int]] = {}
        for (spec, _), found in zip(self.views, self._rows(ids), strict=True):
            stamps[spec.name] = [ts for ts, _ in found]
            for feature in spec.features:
                values[feature] = [row.get(feature) if row else None for _, row in found]
        for field in self.request_fields:
            values[field] = [row[field] for row in entity_rows]
        for feature, column in self.transform(values).items():
            values[feature] = [None if isinstance(v, float) and math.isnan(v) else v for v in column]
        return OnlineRows(values, {view: np.asarray(ts, dtype="float64") for view, ts in stamps.items()})


def entity_keys(view_ids: tuple[str, list[int]]) -> list:
    """Feast's EntityKey of each id of one join key."""
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    join_key, ids = view_ids
    return [EntityKey(join_keys=[join_key], entity_values=[Value(int64_val=i)]) for i in ids]


def _batched_rows(online, config, views: list, cache_rows: int = 0):
    """A reader of every view's rows in one round trip, for the stores the profiles use; None
    for any other store (then each view goes through its own ``online_read``)."""
    from feast.infra.online_stores.redis import RedisOnlineStore
    from feast.infra.online_stores.sqlite import SqliteOnlineStore

    if isinstance(online, SqliteOnlineStore):
        return SqliteRows(online, config, views, cache_rows)
    if isinstance(online, RedisOnlineStore):
        return RedisRows(online, config, views)
    return None


class SqliteRows:
    """Every view's rows for a request in one statement (``UNION ALL``) on Feast's SQLite online
    store, through Feast's own connection and table names, decoded as its ``online_read``
    decodes them (the Value protobuf of each feature, the row's event time). This reads Feast's
    table layout, as the bulk loader (online_load.py) writes it: pinned Feast version, and a
    test compares this reader with ``get_online_features`` value for value.

    With ``cache_rows`` > 0, decoded rows (unknown entities included) are kept in memory until
    the file changes: SQLite's ``PRAGMA data_version`` moves whenever another connection
    commits (the daily load), and then every kept row is dropped. Fetching a batch's rows (one
    per entity and feature) was most of its read, and the same customers and merchants come
    back all day (BENCHMARKS.md, bench-serve)."""

    def __init__(self, online, config, views: list, cache_rows: int = 0) -> None:
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.infra.online_stores.sqlite import _quote_id, _table_id
        from feast.protos.feast.types.Value_pb2 import Value

        self.serialize, self.parse = serialize_entity_key, Value.FromString  # resolved once
        self.conn = online._get_conn(config)
        self.key_version = config.entity_key_serialization_version
        versioned = config.registry.enable_online_feature_view_versioning
        self.tables = [_quote_id(_table_id(config.project, view, versioned)) for _, view in views]
        self._statements: dict[tuple[int, ...], str] = {}
        self._keys: dict[tuple[str, int], bytes] = {}
        self.cache_rows = cache_rows
        # (view, serialized key) -> (event time, values); replaced, never mutated while shared
        self._cache: dict[tuple[int, bytes], tuple[int, dict | None]] = {}
        self._data_version: int | None = None

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

    def _serialized(self, join_key: str, ids: list[int]) -> list[bytes]:
        """Feast's serialized entity keys, kept per (join key, id): the same customers and
        merchants come back request after request, and building and serializing their protobuf
        keys was a large share of a batch's read."""
        keys = self._keys
        found = [keys.get((join_key, i)) for i in ids]
        if None in found:
            if len(keys) + len(ids) > KEY_CACHE_SIZE:
                keys.clear()
            new = [n for n, key in enumerate(found) if key is None]
            protos = entity_keys((join_key, [ids[n] for n in new]))
            for n, proto in zip(new, protos, strict=True):
                found[n] = keys[join_key, ids[n]] = self.serialize(
                    proto, entity_key_serialization_version=self.key_version
                )
        return found

    def read(self, ids_per_view: list[tuple[str, list[int]]]) -> list[list[tuple[int, dict | None]]]:
        """Per view (its join key and the ids asked for), per id: (event time, values)."""
        serialized = [self._serialized(join_key, ids) for join_key, ids in ids_per_view]
        cache = self._current_cache()
        wanted = [
            list(dict.fromkeys(key for key in keys if (i, key) not in cache))
            for i, keys in enumerate(serialized)
        ]
        found = self._fetch(wanted) if any(wanted) else [{} for _ in self.tables]
        if self.cache_rows and any(wanted):
            for i, keys in enumerate(wanted):
                for key in keys:
                    found[i].setdefault(key, (0, None))
            kept = cache
            if len(cache) + sum(map(len, wanted)) > self.cache_rows:
                kept = self._cache = {}  # full: start again (the hot rows return at once)
            for i, rows in enumerate(found):
                kept.update(((i, key), row) for key, row in rows.items())
        return [  # this request's hits from the dict it found them in
            [found[i].get(key) or cache.get((i, key), (0, None)) for key in keys]
            for i, keys in enumerate(serialized)
        ]

    def _current_cache(self) -> dict:
        """The kept rows, emptied when another connection committed to the file since the last
        read (a new dict: a read in flight on another thread keeps the one it holds)."""
        if not self.cache_rows:
            return {}
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._cache, self._data_version = {}, version
        return self._cache

    def _fetch(self, keys_per_view: list[list[bytes]]) -> list[dict[bytes, tuple[int, dict]]]:
        params = [key for keys in keys_per_view for key in keys]
        found: list[dict[bytes, tuple[int, dict]]] = [{} for _ in self.tables]
        statement = self._statement(tuple(len(keys) for keys in keys_per_view))
        parse, unpack = self.parse, DOUBLE.unpack_from
        for view, key, feature, blob, event_ts in self.conn.execute(statement, params):
            rows = found[view]
            entry = rows.get(key)
            if entry is None:
                entry = rows[key] = (event_ts, {})
            if len(blob) == 9 and blob[0] == DOUBLE_TAG:
                # a Value holding only double_val (nearly every value here), read as the bulk
                # loader writes it, without building a protobuf message per value
                entry[1][feature] = unpack(blob, 1)[0]
                continue
            value = parse(blob)
            kind = value.WhichOneof("val")
            entry[1][feature] = None if kind is None else getattr(value, kind)  # as _python, inlined
        return found


class RedisRows:
    """Every view's rows for a request in one Redis pipeline. Feast's ``online_read`` sends one
    pipeline per view (four round trips a transaction); this sends the same HMGET commands,
    built by Feast's own key and field helpers, in one, and decodes the replies with Feast's own
    converter. Those helpers are private: pinned Feast version, and a cluster test compares this
    reader with ``get_online_features`` on Redis value for value."""

    def __init__(self, online, config, views: list) -> None:
        from feast.infra.online_stores.redis import _versioned_fv_name

        self.online, self.config = online, config
        self.plan = []  # per view: its name, the fields to decode (timestamp last), the hash keys
        for spec, view in views:
            name = _versioned_fv_name(view, config)
            fields, hash_keys = online._generate_hset_keys_for_features(
                view, list(spec.features), fv_name_override=name
            )
            self.plan.append((name, fields, hash_keys))

    def read(self, ids_per_view: list[tuple[str, list[int]]]) -> list[list[tuple[int, dict | None]]]:
        redis_keys = [
            self.online._generate_redis_keys_for_entities(self.config, entity_keys(view_ids))
            for view_ids in ids_per_view
        ]
        commands = [
            (key, hash_keys)
            for (_, _, hash_keys), keys in zip(self.plan, redis_keys, strict=True)
            for key in keys
        ]
        replies = self.online._read_hash_fields(self.config, commands)
        out, start = [], 0
        for (name, fields, _), keys in zip(self.plan, redis_keys, strict=True):
            found = self.online._convert_redis_values_to_protobuf(
                replies[start : start + len(keys)], name, list(fields)
            )
            start += len(keys)
            out.append(_stamped(found))
        return out


def _stamped(found: list) -> list[tuple[int, dict | None]]:
    """Feast's ``online_read`` answer with event times as epoch seconds (0: no row) and its
    Values as Python values."""
    return [
        (
            int(ts.timestamp()) if ts is not None else 0,
            {name: _python(v) for name, v in row.items()} if row is not None else None,
        )
        for ts, row in found
    ]


def _python(value):
    """A Feast Value as the SDK returns it: its set field, or None when it holds none."""
    if value is None:
        return None
    kind = value.WhichOneof("val")
    return None if kind is None else getattr(value, kind)

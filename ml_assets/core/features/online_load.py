"""Bulk loading of one day's feature rows into Feast's SQLite online store.

Feast's own ``materialize`` writes the SQLite store one row and one feature at a time, after
converting every value through protobuf objects: ~2.7-5k entities/s here, which made a
daily load of 20k customers cost seconds per view. This writer produces the same rows
(same table, same entity-key serialization, same value bytes and text, same timestamps; a
test compares it byte for byte with Feast's materialize) with vectorized encoding and one
``executemany`` per view. It also keeps the newest row when days arrive out of order (the
stock upsert overwrites regardless of timestamps). It reads Feast internals
(``_table_id``, the key serializer): pinned Feast version, checked by that test."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from ml_assets.core.timestamps import utc_times

# Value.double_val is field 5, wire type 1 (64-bit): tag byte 0x29, then 8 bytes little-endian
DOUBLE_TAG = 0x29
# rows per INSERT: multi-row statements wrote 1.4x faster than executemany (6 parameters a
# row: 3,000 a statement, under SQLite's limit of 32,766)
ROWS_PER_STATEMENT = 500


def _double_values(column: np.ndarray) -> tuple[list[bytes], list[str | None]]:
    record = np.empty(len(column), dtype=[("tag", "u1"), ("value", "<f8")])
    record["tag"], record["value"] = DOUBLE_TAG, column
    buffer = record.tobytes()
    values = [buffer[i : i + 9] for i in range(0, len(buffer), 9)]
    texts: list[str | None] = [str(v) for v in column.tolist()]
    for i in np.flatnonzero(np.isnan(column)):  # Feast writes a missing value as an empty Value
        values[i], texts[i] = b"", None
    return values, texts


def _string_values(column: pd.Series) -> tuple[list[bytes], list[str | None]]:
    from feast.protos.feast.types.Value_pb2 import Value

    values, texts = [], []
    for v in column.tolist():
        missing = v is None or (isinstance(v, float) and np.isnan(v))
        values.append(b"" if missing else Value(string_val=str(v)).SerializeToString())
        texts.append(None if missing else str(v))
    return values, texts


def _upsert_sql(table: str, rows: int) -> str:
    """Insert ``rows`` rows; an existing (entity, feature) row is replaced only by a newer one."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * rows)
    return (
        f"INSERT INTO {table} (entity_key, feature_name, value, value_text, event_ts, created_ts) "
        f"VALUES {values} ON CONFLICT(entity_key, feature_name) DO UPDATE SET value = excluded.value, "
        "value_text = excluded.value_text, event_ts = excluded.event_ts, created_ts = excluded.created_ts "
        f"WHERE excluded.event_ts >= {table}.event_ts"
    )


def newest_of_day(frame: pd.DataFrame, join_key: str, day: dt.date) -> pd.DataFrame:
    """The rows stamped inside ``day``, the newest per entity, with ``event_timestamp`` as UTC
    datetimes (what both online writers take)."""
    start = pd.Timestamp(day, tz="UTC")
    ts = utc_times(frame["event_timestamp"])
    inside = frame.assign(event_timestamp=ts)[(ts >= start) & (ts < start + pd.Timedelta(days=1))]
    return inside.sort_values("event_timestamp", kind="stable").drop_duplicates(join_key, keep="last")


def load_day(store, view_name: str, frame: pd.DataFrame, day: dt.date) -> int:
    """Write the rows of ``frame`` stamped inside ``day`` (the newest per entity) to the
    online store of ``store`` for ``view_name``; returns the number of entities written."""
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.infra.online_stores.sqlite import _quote_id, _table_id
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value
    from feast.types import String

    config = store.config
    view = store.get_feature_view(view_name)
    (join_key,) = view.join_keys
    rows = newest_of_day(frame, join_key, day)
    if rows.empty:
        return 0
    keys = [
        serialize_entity_key(
            EntityKey(join_keys=[join_key], entity_values=[Value(int64_val=int(k))]),
            entity_key_serialization_version=config.entity_key_serialization_version,
        )
        for k in rows[join_key].tolist()
    ]
    order = sorted(range(len(keys)), key=keys.__getitem__)  # B-tree order: measurably faster upserts
    # Feast's SQLite store keeps event timestamps as whole epoch seconds (its sqlite3 adapter)
    event_ts = rows["event_timestamp"].dt.tz_convert(None).astype("datetime64[s]").astype("int64").tolist()
    names = sorted(f.name for f in view.features)
    kinds = {f.name: f.dtype for f in view.features}
    encoded = {
        name: _string_values(rows[name])
        if kinds[name] == String
        else _double_values(rows[name].to_numpy("float64"))
        for name in names
    }
    records = [
        (keys[i], name, encoded[name][0][i], encoded[name][1][i], event_ts[i], None)
        for i in order
        for name in names
    ]
    table = _quote_id(_table_id(config.project, view, config.registry.enable_online_feature_view_versioning))
    con = sqlite3.connect(Path(config.online_store.path), timeout=60)
    try:
        with con:
            full = _upsert_sql(table, ROWS_PER_STATEMENT)  # one statement text for every full chunk
            for start in range(0, len(records), ROWS_PER_STATEMENT):
                chunk = records[start : start + ROWS_PER_STATEMENT]
                sql = full if len(chunk) == ROWS_PER_STATEMENT else _upsert_sql(table, len(chunk))
                con.execute(sql, [field for record in chunk for field in record])
    finally:
        con.close()
    return len(keys)

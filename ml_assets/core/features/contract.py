"""The feature contract every consumer shares: transactions as entity rows, point-in-time
features from the feature service (offline) or the online store (online), and one
encoding of model inputs. Training, batch scoring and the online service all encode
through ``encode_column``: one code path, no training/serving skew."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from ml_assets.core import lake
from ml_assets.core.features.store import FeatureRepo
from ml_assets.core.problem import process_problem
from ml_assets.core.timestamps import utc_times

SPINE = process_problem().spine_columns()
# request field -> the timestamp whose hour of day it carries (the on-demand view reads it)
HOUR_FIELDS = process_problem().hour_fields()
# the prediction event as Feast entity rows: its id, entity keys, timestamp, request columns and
# hour fields (each once: an entity may be keyed by the event's own id)
ENTITY_COLUMNS = list(dict.fromkeys([SPINE.id, *SPINE.keys, SPINE.timestamp, *SPINE.request, *HOUR_FIELDS]))
# the prediction event's id and time: the columns every frame of predictions is keyed by (training
# sets, monitor references, the prediction log), by the problem's own names; and the entity whose
# rows come in episodes (a card's frauds), kept together when rows are split or counted
EVENT_ID, EVENT_TIME, EPISODE_KEY = SPINE.id, SPINE.timestamp, SPINE.keys[0]
RAW_SUFFIX = "_raw"  # a categorical feature as served (string), kept beside its code for monitoring
TIMESTAMP_SUFFIX = "__ts"  # Feast's name for a feature's event timestamp in an online response


def hour_of_day(timestamps) -> np.ndarray:
    """Hour of day with minutes (UTC): what a request's hour field carries."""
    if isinstance(timestamps, list) and all(isinstance(t, dt.datetime) and t.tzinfo for t in timestamps):
        # a few request timestamps: plain Python, without pandas' per-call cost; same numbers
        utc = [t.astimezone(dt.UTC) for t in timestamps]
        return np.array([t.hour + t.minute / 60.0 for t in utc], dtype="float64")
    ts = pd.DatetimeIndex(utc_times(timestamps))
    return (ts.hour + ts.minute / 60.0).to_numpy("float64")


def entity_frame(lake_dir: Path, days: list[dt.date]) -> pd.DataFrame:
    """The prediction events of ``days`` as Feast entity rows with their request-time fields."""
    tx = pd.concat([lake.read_partition(lake_dir, SPINE.table, d) for d in days], ignore_index=True)
    text = [c for c in (SPINE.id, *SPINE.request) if SPINE.types[c] == "str"]
    hours = {field: hour_of_day(tx[column]) for field, column in HOUR_FIELDS.items()}
    tx = tx.assign(**hours, **{c: tx[c].astype(str) for c in text})
    return tx[ENTITY_COLUMNS]


def request_hours(timestamps: list) -> dict[str, np.ndarray]:
    """The hour fields of requests stamped ``timestamps`` (the spine's timestamp of each)."""
    if not HOUR_FIELDS:
        return {}
    hours = hour_of_day(timestamps)
    return dict.fromkeys(HOUR_FIELDS, hours)


def encode_column(values: Sequence | np.ndarray | pd.Series, feature: str, specs: ModuleType) -> np.ndarray:
    """One model input as float64: a number as it is (missing or unparseable -> NaN), a
    categorical feature as the code of its fixed level (NaN when unseen or missing)."""
    levels = specs.CATEGORICAL_FEATURES.get(feature)
    if levels is not None:
        index = _level_codes(tuple(levels))
        return np.array(
            [index.get(v, np.nan) if isinstance(v, str) else np.nan for v in values], dtype="float64"
        )
    try:
        return np.asarray(values, dtype="float64")  # None -> NaN
    except (TypeError, ValueError):  # text where a number belongs: unparseable -> NaN
        return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy("float64")


def to_model_frame(frame: pd.DataFrame, specs: ModuleType) -> pd.DataFrame:
    """A frame with every model input encoded (``encode_column``), and each categorical
    feature's served string kept as ``<name>_raw``. Idempotent: a frame that already has
    ``<name>_raw`` is encoded from it again, never from the codes."""
    out = frame.copy()
    for col in specs.model_features():
        if col in specs.CATEGORICAL_FEATURES:
            raw_col = f"{col}{RAW_SUFFIX}"
            served = out[raw_col] if raw_col in out.columns else out[col]
            out[raw_col] = served.astype("string")
            out[col] = encode_column(
                out[raw_col].astype(object).where(out[raw_col].notna(), None), col, specs
            )
        else:
            out[col] = encode_column(out[col], col, specs)
    return out


@functools.lru_cache(maxsize=64)
def _level_codes(levels: tuple[str, ...]) -> dict[str, float]:
    return {level: float(i) for i, level in enumerate(levels)}


def model_matrix(columns: Mapping[str, Sequence], specs: ModuleType) -> np.ndarray:
    """Model inputs (rows x features, in the model's order) from columns of served values,
    each encoded as ``encode_column`` encodes it."""
    features, categorical = specs.model_features(), specs.CATEGORICAL_FEATURES
    placeholder = [None] * len(columns[features[0]])
    try:
        # all numeric columns in one conversion (None -> NaN), as encode_column converts each:
        # per column it cost ~0.25 ms a request on the online path
        matrix = np.array(
            [placeholder if f in categorical else columns[f] for f in features], dtype="float64"
        ).T
    except (TypeError, ValueError):  # text where a number belongs: column by column
        return np.column_stack([encode_column(columns[f], f, specs) for f in features])
    for j, feature in enumerate(features):
        if feature in categorical:
            matrix[:, j] = encode_column(columns[feature], feature, specs)
    return np.ascontiguousarray(matrix)


def historical_features(repo: FeatureRepo, entities: pd.DataFrame) -> pd.DataFrame:
    """Point-in-time join of the feature service onto ``entities`` (Feast, DuckDB store),
    as a model frame."""
    store = repo.store()
    service = store.get_feature_service(repo.specs.FEATURE_SERVICE)
    # Feast's name for the entity rows' time (another name works, with a line on stdout per call)
    feast_time = "event_timestamp"
    entities = entities.rename(columns={EVENT_TIME: feast_time})
    frame = store.get_historical_features(entity_df=entities, features=service).to_df()
    frame = frame.rename(columns={feast_time: EVENT_TIME})
    # a request column passed on as a feature of the same name comes back twice (the entity row's
    # and the on-demand view's): one is kept, the feature
    frame = frame.loc[:, ~frame.columns.duplicated(keep="last")]
    frame = frame.sort_values([EVENT_TIME, EVENT_ID], kind="stable").reset_index(drop=True)
    return to_model_frame(frame, repo.specs)


@dataclasses.dataclass(frozen=True)
class OnlineRows:
    """Feature values served online for some requests, and when each view's row was stamped."""

    values: dict[str, list]  # feature -> one value per request, as served
    view_timestamps: dict[str, np.ndarray]  # view -> epoch seconds per request (0 = no row)


def online_features(store, service, entity_rows: list[dict], specs: ModuleType) -> OnlineRows:
    """The feature service read from the online store for ``entity_rows`` (entity keys and
    request fields), through Feast's SDK, as training reads it offline."""
    served = store.get_online_features(features=service, entity_rows=entity_rows).to_dict(
        include_event_timestamps=True
    )
    stamps = {
        view.name: np.asarray(served[next(iter(view.features)) + TIMESTAMP_SUFFIX], dtype="float64")
        for view in specs.FEATURE_VIEWS
    }
    return OnlineRows(served, stamps)


def raw_columns(specs: ModuleType) -> list[str]:
    return [f"{c}{RAW_SUFFIX}" for c in specs.CATEGORICAL_FEATURES]

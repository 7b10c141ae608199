"""The aggregate compiler on generated specs (random operations, windows, filters and label
aggregates over generated events): every value it computes for a day equals a brute-force
recomputation in pandas from the rows strictly before that day, and a label counts only from
its arrival (never from its event's time)."""

import datetime as dt
import math

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_assets.core import lake
from ml_assets.core.problem.aggregates import compile_view, compute_view
from ml_assets.core.problem.spec import ProblemSpec

FIRST = dt.date(2026, 1, 1)
DAYS = 8
WINDOWS = [1, 2, 3, 5]
OPS = ["count", "sum", "mean", "min", "max", "distinct_count", "share"]


def _spec(aggregates: list[dict]) -> ProblemSpec:
    return ProblemSpec.model_validate(
        {
            "name": "generated",
            "tables": {
                "events": {
                    "landing": "events",
                    "columns": {
                        "event_id": "str",
                        "key": "int",
                        "x": "float",
                        "kind": "str",
                        "ts": "timestamp",
                    },
                    "primary_key": "event_id",
                    "timestamp": "ts",
                },
                "outcomes": {
                    "landing": "outcomes",
                    "columns": {
                        "event_id": "str",
                        "event_ts": "timestamp",
                        "bad": "bool",
                        "known_at": "timestamp",
                    },
                    "primary_key": "event_id",
                    "timestamp": "known_at",
                },
            },
            "entities": {"thing": {"key": "key"}},
            "spine": {"table": "events", "entities": ["thing"], "request_columns": ["x"]},
            "label": {
                "table": "outcomes",
                "key": "event_id",
                "value": "bad",
                "arrival": "known_at",
                "event_time": "event_ts",
                "max_delay_days": 3,
            },
            "aggregate_views": [
                {"name": "view", "entity": "thing", "source": "events", "features": aggregates}
            ],
            "serving": {"hash_key": "key"},
            "source": {"kind": "historical_import", "path": "events.parquet", "label_delay_days": 1},
        }
    )


@st.composite
def aggregates(draw) -> list[dict]:
    out = []
    for i in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(OPS))
        agg = {
            "name": f"a{i}",
            "op": op,
            "windows": draw(st.lists(st.sampled_from(WINDOWS), min_size=1, max_size=3, unique=True)),
        }
        if op in ("sum", "mean", "min", "max"):
            agg["column"] = "x"
        if op == "distinct_count":
            agg["column"] = "kind"
        if op == "share":
            agg["condition"] = "kind == 'b'"
        if draw(st.booleans()):
            agg["filter"] = f"x > {draw(st.sampled_from([0.2, 0.5, 0.8]))}"
        out.append(agg)
    if draw(st.booleans()):  # the labels, by arrival
        out.append({"name": "bad", "op": "count", "source": "outcomes", "time": "arrival", "windows": [2, 5]})
    return out


def _world(root, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events over DAYS days for 6 entities, and outcomes (a third of the events) arriving 0-3
    days after their event, each written to the lake by its day."""
    rng = np.random.default_rng(seed)
    frames, outcomes = [], []
    for d in range(DAYS):
        n = int(rng.integers(0, 25))
        start = pd.Timestamp(FIRST + dt.timedelta(days=d), tz="UTC")
        events = pd.DataFrame(
            {
                "event_id": [f"e{d}-{i}" for i in range(n)],
                "key": rng.integers(0, 6, n).astype("int64"),
                "x": rng.random(n).round(3),
                "kind": rng.choice(["a", "b", "c"], n),
                "ts": start + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"),
            }
        )
        frames.append(events)
        bad = events[rng.random(n) < 0.33]
        outcomes.append(
            pd.DataFrame(
                {
                    "event_id": bad["event_id"],
                    "event_ts": bad["ts"],
                    "bad": True,
                    "known_at": bad["ts"] + pd.to_timedelta(rng.integers(0, 3 * 86_400, len(bad)), unit="s"),
                }
            )
        )
    # typed strings: an empty day's object column would be written as Parquet's null type
    events = pd.concat(frames, ignore_index=True).astype({"event_id": "string", "kind": "string"})
    outcomes = pd.concat(outcomes, ignore_index=True).astype({"event_id": "string"})
    for table, frame, ts in (("events", events, "ts"), ("outcomes", outcomes, "known_at")):
        for d in range(DAYS):
            day = FIRST + dt.timedelta(days=d)
            lake.write_partition(frame[frame[ts].dt.date == day].reset_index(drop=True), root, table, day)
    return events, outcomes


def _brute_force(
    spec: ProblemSpec, events: pd.DataFrame, outcomes: pd.DataFrame, day: dt.date
) -> pd.DataFrame:
    start = pd.Timestamp(day, tz="UTC")
    view = spec.aggregate_views[0]
    past = events[events["ts"] < start]
    widest = max(w for a in view.aggregates() if a.time == "event" for w in a.windows)
    keys = sorted(past.loc[past["ts"] >= start - pd.Timedelta(days=widest), "key"].unique())
    out = {k: {} for k in keys}
    for a in view.aggregates():
        for w, name in zip(a.windows, a.feature_names(), strict=True):
            since = start - pd.Timedelta(days=w)
            if a.time == "arrival":  # labels known before the day, reaching the entity via its event
                known = outcomes[(outcomes["known_at"] < start) & (outcomes["known_at"] >= since)]
                rows = known.merge(past[["event_id", "key"]], on="event_id")
            else:
                rows = past[past["ts"] >= since]
                if a.filter:
                    rows = rows[rows["x"] > float(a.filter.split(">")[1])]
            for k in keys:
                mine = rows[rows["key"] == k]
                out[k][name] = _op(a, mine)
    return pd.DataFrame.from_dict(out, orient="index")


def _op(aggregate, rows: pd.DataFrame) -> float:
    if aggregate.op == "count":
        return float(len(rows))
    if aggregate.op == "sum":
        return float(rows["x"].sum())
    if aggregate.op == "distinct_count":
        return float(rows["kind"].nunique())
    if rows.empty:
        return math.nan
    if aggregate.op == "share":
        return float((rows["kind"] == "b").mean())
    return float(getattr(rows["x"], aggregate.op)())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(features=aggregates(), seed=st.integers(0, 2**16))
def test_every_compiled_value_is_recomputed_from_strictly_earlier_rows(tmp_path_factory, features, seed):
    root = tmp_path_factory.mktemp("lake")
    spec = _spec(features)
    events, outcomes = _world(root, seed)
    compiled = compile_view(spec, spec.aggregate_views[0])
    for d in range(DAYS + 1):
        day = FIRST + dt.timedelta(days=d)
        got = compute_view(compiled, root, day, FIRST).set_index("key").drop(columns="event_timestamp")
        want = _brute_force(spec, events, outcomes, day)
        assert list(got.index) == list(want.index), day
        if want.empty:
            continue
        want = want[list(got.columns)]
        np.testing.assert_allclose(got.to_numpy(float), want.to_numpy(float), rtol=1e-12, err_msg=str(day))


def test_a_label_arriving_on_the_day_is_not_counted_that_day(tmp_path):
    """The row for day D counts labels that arrived before D 00:00: one arriving at D 00:00:01
    for an event of D-1 is first counted on D+1."""
    spec = _spec([{"name": "n", "op": "count", "windows": [3]}, _label_count()])
    day = FIRST + dt.timedelta(days=1)
    event_ts = pd.Timestamp(FIRST, tz="UTC") + pd.Timedelta(hours=12)
    events = pd.DataFrame({"event_id": ["e"], "key": [1], "x": [0.5], "kind": ["a"], "ts": [event_ts]})
    events = events.astype({"event_id": "string", "kind": "string"})
    arrival = pd.Timestamp(day, tz="UTC") + pd.Timedelta(seconds=1)
    label = pd.DataFrame({"event_id": ["e"], "event_ts": [event_ts], "bad": [True], "known_at": [arrival]})
    label = label.astype({"event_id": "string"})
    lake.write_partition(events, tmp_path, "events", FIRST)
    lake.write_partition(events.iloc[:0], tmp_path, "events", day)
    lake.write_partition(label.iloc[:0], tmp_path, "outcomes", FIRST)
    lake.write_partition(label, tmp_path, "outcomes", day)
    compiled = compile_view(spec, spec.aggregate_views[0])
    counted = [
        compute_view(compiled, tmp_path, FIRST + dt.timedelta(days=d), FIRST).set_index("key").at[1, "bad_3d"]
        for d in (1, 2)
    ]
    assert counted == [0.0, 1.0]


def _label_count() -> dict:
    return {"name": "bad", "op": "count", "source": "outcomes", "time": "arrival", "windows": [3]}

"""Point-in-time-correct training frames.

Entity rows are the prediction events (the spine) of a window; features come from Feast's
``get_historical_features`` on the model's feature service; labels are the label table's
*as known at the as-of date* (core/labels.py).

Unarrived labels, handled as the spec's ``label.missing`` says. Where a missing label is a
negative (a table of positives only), an event whose positive had not arrived by the as-of date
is labelled negative (as far as anyone could know then), never positive, and recent days carry
"immature" labels. We keep them, because after a shift the recent negative behaviour is exactly
what a retrained model must learn, and nearly all of those rows really are negative (card
fraud: ~98%); the cost is a little label noise on the positive side (ROC AUC barely moves; PR
AUC and recall on recent days read low, for challenger and champion alike, so comparisons stay
fair). Where it is unknown, the event waits outside the training set. The record counts the rows younger than
``immature_label_days``; ``label_maturity_days`` > 0 leaves a gap before the as-of date
instead, trading recency for complete labels.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from ml_assets.core import lake
from ml_assets.core.features.aggregates import warm_up_days
from ml_assets.core.features.contract import EPISODE_KEY, EVENT_TIME, entity_frame, historical_features
from ml_assets.core.features.store import FeatureRepo
from ml_assets.core.labels import LabelTable
from ml_assets.core.model import KNOWN_SHARE, TARGET, WEIGHT
from ml_assets.core.problem import problem_spec
from ml_assets.core.records import TrainingSetRecord, Window
from ml_assets.core.settings import Settings
from ml_assets.core.timestamps import utc_times

SPLIT = "split"


def resolve_as_of(value: str, lake_dir: Path) -> dt.date:
    """A cut-off date from ``YYYY-MM-DD``; empty means the day after the newest ingested day."""
    if value:
        try:
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"as_of={value!r} is not a date: use YYYY-MM-DD") from exc
    days = lake.existing_partitions(lake_dir, "raw_transactions")
    if not days:
        raise ValueError(
            "as_of is empty and no transactions are ingested yet: materialize raw_transactions first"
        )
    return dt.date.fromisoformat(days[-1]) + dt.timedelta(days=1)


def training_window(as_of: dt.date, settings: Settings) -> Window:
    end = as_of - dt.timedelta(days=settings.label_maturity_days)
    warm = settings.start_date + dt.timedelta(days=warm_up_days(problem_spec(settings), settings))
    start = max(warm, end - dt.timedelta(days=settings.training_window_days))
    if end <= start:
        raise ValueError(
            f"as_of={as_of}: the training window is empty (features are complete from {warm}, "
            f"plus {settings.label_maturity_days} days of label maturity): pick a later as-of date"
        )
    return Window(start, end)


def attach_labels(entities: pd.DataFrame, labels: pd.DataFrame, table: LabelTable) -> pd.DataFrame:
    """The entity rows with their label as known; a row whose label is not known yet leaves the
    set where the problem says a missing label is unknown (not a negative)."""
    target = table.target(entities[table.key], labels)
    known = target.notna()
    return entities.loc[known].assign(**{TARGET: target[known].astype("int8")}).reset_index(drop=True)


def build_training_set(
    as_of: dt.date, settings: Settings, repo: FeatureRepo, shift_since: dt.date | None = None
) -> tuple[pd.DataFrame, Window]:
    """Entity rows of the training window, labels as known at ``as_of``, features from the
    feature service, a time-based split (the last ``validation_days`` are validation, the most
    recent labelled window, which promotion also evaluates on) and the training weights."""
    window = training_window(as_of, settings)
    table = LabelTable.of(problem_spec(settings))
    labels = table.known_at(as_of, settings.lake_dir, settings.start_date, settings.label_lookback_days)
    entities = attach_labels(entity_frame(settings.lake_dir, window.days()), labels, table)
    if entities.empty:
        raise ValueError(
            f"as_of={as_of}: no row of the training window {window} has a known label ({table.table} "
            "lands them a delay after their row): set label_maturity_days to that delay, or a later as_of"
        )
    frame = historical_features(repo, entities)
    frame[SPLIT] = split_rows(
        frame, window, settings.validation_days, shift_since, settings.retrain_holdout_share
    )
    cdf = arrival_cdf(labels, table, as_of, settings.label_delay_max_days)
    if table.missing == "negative":  # a row without a label may hide a positive not reported yet
        frame[KNOWN_SHARE] = label_known_share(frame, as_of, cdf)
    frame[WEIGHT] = training_weights(
        frame, as_of, cdf, shift_since, settings.retrain_shift_weight_share, settings.max_positive_weight
    )
    return frame, window


def split_rows(
    frame: pd.DataFrame,
    window: Window,
    validation_days: int,
    shift_since: dt.date | None,
    holdout_share: float,
) -> pd.Series:
    """Which rows train and which validate (and are what promotion judges on):
    - normally the last ``validation_days`` of the window validate (a time split: the model is
      judged on days after the ones it learnt from);
    - after a detected shift (``shift_since``), those days are the new regime, and a time split
      would leave none of it to learn from (measured: retrains a few days after a shift had
      zero post-shift training rows and learnt nothing of it). Then only a hashed
      ``holdout_share`` of episode keys (the spine's first entity) validates on those days; the
      other keys' rows of the same days train. Whole keys are held out because positives come
      in episodes (card fraud: a compromised card's transactions), and an episode's rows on both
      sides would leak it into the validation. The other entities (card fraud's merchants) are
      still shared with the training rows of the same days, so the validation
      (and the gate, where the champion never saw those days) leans the challenger's way a
      little; the alternative, waiting a week for a time split, leaves the old model serving."""
    split_at = pd.Timestamp(window.end - dt.timedelta(days=validation_days), tz="UTC")
    recent = frame[EVENT_TIME] >= split_at
    if shift_since is not None:
        recent &= held_out_keys(frame[EPISODE_KEY], holdout_share)
    return recent.map({True: "validation", False: "train"})


def held_out_keys(keys: pd.Series, share: float) -> pd.Series:
    """A fixed, pseudo-random ``share`` of keys (Knuth's multiplicative hash: the same keys for
    every retrain, independent of how the data source numbers them; a text key is hashed first)."""
    numbers = keys if pd.api.types.is_integer_dtype(keys) else pd.util.hash_pandas_object(keys, index=False)
    hashed = (numbers.to_numpy("uint64") * np.uint64(2654435761)) % np.uint64(2**32)
    return pd.Series(hashed < share * 2**32, index=keys.index)


def arrival_cdf(labels: pd.DataFrame, table: LabelTable, as_of: dt.date, max_delay: int) -> np.ndarray:
    """F[a]: the share of a day's labels known at the start of ``as_of`` when that day is ``a``
    days old (a = 0..max_delay + 1), i.e. that arrived on one of the ``a - 1`` days after it (a
    label arriving on ``as_of`` itself is not known yet: ``LabelTable.known_at``). Measured on the
    days whose labels had all arrived by ``as_of``; all ones when no such day exists yet (then
    nothing is corrected). The first version counted arrivals within ``a`` days, one day too
    many: measured at default size on card fraud, a 4-day-old day had 44% of its positives known
    where it said 57%, so young positives were weighed too little."""
    if labels.empty:
        return np.ones(max_delay + 2)
    arrived = labels.assign(day=utc_times(labels[table.event_time]).dt.date)
    mature = arrived[arrived["day"] <= as_of - dt.timedelta(days=max_delay + 1)]
    if mature.empty:
        return np.ones(max_delay + 2)
    delay = (utc_times(mature[table.arrival]).dt.date - mature["day"]).map(lambda d: d.days)
    return np.array([(delay < a).mean() for a in range(max_delay + 2)])


def label_known_share(frame: pd.DataFrame, as_of: dt.date, cdf: np.ndarray) -> np.ndarray:
    """Per row, F[a]: the share of its day's positives known at ``as_of`` (``arrival_cdf``)."""
    # vectorised: a training set has a row per event, millions at scale
    days = utc_times(frame[EVENT_TIME]).dt.tz_convert(None).to_numpy().astype("datetime64[D]")
    age = (np.datetime64(as_of, "D") - days).astype("int64")
    return cdf[age.clip(0, len(cdf) - 1)]


def training_weights(
    frame: pd.DataFrame,
    as_of: dt.date,
    cdf: np.ndarray,
    shift_since: dt.date | None,
    shift_share: float,
    max_positive_weight: float,
) -> np.ndarray:
    """Sample weights for training:
    - a positive that arrived for a row ``a`` days old at ``as_of`` weighs 1/F[a] (at most
      ``max_positive_weight``): only the share F[a] of that day's positives is known yet, so
      each known one stands for 1/F[a] (inverse-propensity weighting of the delayed feedback; it
      restores the young days' positive rate as it will be once their labels are in);
    - a row without a positive weighs 1. It is a positive not yet reported with probability
      p(1 - F[a]) / (1 - pF[a]), under 1% at card fraud's ~1% rate, so it is nearly always
      negative. Weighing it F[a] instead (the first version) threw away the young negative rows, which are
      exactly what a model must learn from after a seasonal shift (measured: its retrains
      learnt nothing of the new regime);
    - after a detected shift (``shift_since``), the rows from that day on carry at least
      ``shift_share`` of the total weight, so a model retrained days after a shift learns the
      new regime instead of being outvoted by the weeks before it."""
    days = utc_times(frame[EVENT_TIME]).dt.date
    known = label_known_share(frame, as_of, cdf)
    # a positive can only be known on a day with F > 0; the guard keeps 1/0 out of the where
    inverse = np.minimum(1.0 / np.maximum(known, 1.0 / max_positive_weight), max_positive_weight)
    weight = np.where(frame[TARGET].to_numpy() == 1, inverse, 1.0)
    if shift_since is not None:
        after = (days >= shift_since).to_numpy()
        share = weight[after].sum() / weight.sum() if after.any() else 0.0
        if 0 < share < shift_share:
            weight[after] *= shift_share * (1 - share) / (share * (1 - shift_share))
    return weight


def save_training_set(
    frame: pd.DataFrame, as_of: dt.date, window: Window, settings: Settings, feature_service: str
) -> TrainingSetRecord:
    """Write the frame as ``training_sets/as_of=<date>/<content hash>.parquet`` (temp, then
    rename) and describe it."""
    digest = content_hash(frame)
    path = training_set_path(settings, as_of, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    young = frame[EVENT_TIME] >= pd.Timestamp(
        as_of - dt.timedelta(days=settings.immature_label_days), tz="UTC"
    )
    return TrainingSetRecord(
        path=str(path),
        content_hash=digest,
        as_of=as_of,
        window=window,
        feature_service=feature_service,
        rows=len(frame),
        train_rows=int((frame[SPLIT] == "train").sum()),
        validation_rows=int((frame[SPLIT] == "validation").sum()),
        positive_rate=float(frame[TARGET].mean()),
        immature_rows=int(young.sum()),
    )


def training_set_path(settings: Settings, as_of: dt.date, digest: str) -> Path:
    return settings.training_sets_dir / f"as_of={as_of}" / f"{digest}.parquet"


def load_split(record: TrainingSetRecord, split: str) -> pd.DataFrame:
    """One split of a saved training set, exactly as the model saw it (already a model frame)."""
    frame = pd.read_parquet(record.path)
    return frame[frame[SPLIT] == split].reset_index(drop=True)


def content_hash(frame: pd.DataFrame) -> str:
    as_strings = frame.astype({c: "string" for c in frame.select_dtypes("category")})
    hashed = pd.util.hash_pandas_object(as_strings, index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()[:16]

"""Deterministic, vectorized simulator of card transactions, delayed chargebacks and
customer/merchant snapshots.

Every day is generated from ``(seed, day index)`` alone, so any day can be regenerated
without replaying the ones before it. Fraud is driven by latent card compromise, risky
merchants and fraud patterns that the feature service can see (amount relative to the
customer's habits, recent bursts, merchant chargeback rates, channel, hour).

Scenarios, switched on from ``drift_start_day``:
- ``stable``: no change.
- ``seasonal``: holiday shopping (covariate shift). Many honest customers spend far more
  than usual, online, late in the evening, in gift categories: they look like fraud to a
  model trained before the shift, so its real ROC AUC drops and the score distribution moves.
- ``fraud_shift``: concept drift. Fraudsters switch to small daytime in-store purchases at
  previously clean merchants; inputs barely move, only realized performance sees it.
- ``currency_switch``: the region changes currency, and every amount the processor sends is
  ``CURRENCY_RATE`` of what it was. Nobody's behaviour changed, so the ranking holds; every
  amount feature moves the same way, and the score scale with it (an operating point lost, not
  a model: issue 25). The amount-to-habit ratios come back as the habits' windows fill with new
  amounts; the amounts themselves stay lower.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

CATEGORIES = np.array(
    ["grocery", "fuel", "restaurant", "pharmacy", "electronics", "online_retail", "travel", "jewelry"]
)
# typical ticket size per category and its online share
_CATEGORY_AMOUNT = np.array([45.0, 50.0, 35.0, 25.0, 220.0, 80.0, 400.0, 350.0])
_CATEGORY_ONLINE = np.array([0.05, 0.0, 0.10, 0.05, 0.45, 0.95, 0.6, 0.3])
_GIFT_CATEGORIES = np.array([4, 5, 7])  # electronics, online_retail, jewelry
CURRENCY_RATE = 0.6  # new units per old unit, in the currency_switch scenario
CHANNELS = np.array(["in_store", "online"])
FRAUD_TESTING_SHARE = 0.45

TRANSACTION_COLUMNS = [
    "transaction_id",
    "customer_id",
    "merchant_id",
    "amount",
    "channel",
    "merchant_category",
    "event_timestamp",
]


@dataclasses.dataclass(frozen=True)
class SimulatorConfig:
    seed: int = 7
    start_date: dt.date = dt.date(2026, 1, 1)
    rows_per_day: int = 10_000
    n_customers: int = 20_000
    n_merchants: int = 2_000
    scenario: str = "stable"
    drift_start_day: int = 75
    label_delay_max_days: int = 21

    @classmethod
    def from_settings(cls, settings) -> SimulatorConfig:
        return cls(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class _World:
    """Static attributes of customers and merchants, drawn once from the seed."""

    customer_weight: np.ndarray
    customer_typical_amount: np.ndarray
    customer_age_years: np.ndarray
    customer_account_start: np.ndarray  # days before start_date
    customer_credit_limit: np.ndarray
    customer_shopper: np.ndarray  # joins holiday shopping in the seasonal scenario
    merchant_weight: np.ndarray
    merchant_category: np.ndarray
    merchant_risk: np.ndarray  # latent share of fraud routed through the merchant
    merchant_clean_target: np.ndarray  # targeted after a fraud_shift
    merchant_open_day: np.ndarray


def _world(cfg: SimulatorConfig) -> _World:
    rng = np.random.default_rng([cfg.seed, 0])
    nc, nm = cfg.n_customers, cfg.n_merchants
    category = rng.choice(len(CATEGORIES), size=nm, p=[0.25, 0.12, 0.2, 0.08, 0.1, 0.13, 0.05, 0.07])
    risk = rng.beta(0.6, 8.0, size=nm)
    clean = (risk < np.quantile(risk, 0.5)) & rng.random(nm).__lt__(0.08)
    return _World(
        customer_weight=rng.gamma(2.0, 1.0, size=nc),
        customer_typical_amount=rng.lognormal(0.0, 0.45, size=nc),
        customer_age_years=rng.integers(18, 90, size=nc),
        customer_account_start=rng.integers(30, 3650, size=nc),
        customer_credit_limit=np.round(rng.choice([1000, 2500, 5000, 10000, 20000], size=nc) * 1.0, 2),
        customer_shopper=rng.random(nc) < 0.45,
        merchant_weight=rng.pareto(1.5, size=nm) + 0.1,
        merchant_category=category,
        merchant_risk=risk,
        merchant_clean_target=clean,
        merchant_open_day=rng.integers(-2000, -10, size=nm),
    )


class Simulator:
    """Generates one day at a time; ``day_index`` 0 is ``cfg.start_date``."""

    def __init__(self, cfg: SimulatorConfig):
        self.cfg = cfg
        self.world = _world(cfg)

    def date(self, day_index: int) -> dt.date:
        return self.cfg.start_date + dt.timedelta(days=day_index)

    def _drift_on(self, day_index: int, scenario: str) -> bool:
        return self.cfg.scenario == scenario and day_index >= self.cfg.drift_start_day

    def _compromised(self, day_index: int) -> np.ndarray:
        """Cards compromised on a day. A compromise lasts a 3-day block, so yesterday's
        burst of activity is a usable signal for today; blocks are staggered per customer
        (offset 0-2), so every day a third of the victims are new."""
        n = self.cfg.n_customers
        offset = np.random.default_rng([self.cfg.seed, 4]).integers(0, 3, n)
        out = np.zeros(n, dtype=bool)
        for o in range(3):
            block = (day_index + o) // 3
            hit = np.random.default_rng([self.cfg.seed, 1, block, o]).random(n) < 0.004
            out |= hit & (offset == o)
        return out

    def transactions(self, day_index: int) -> pd.DataFrame:
        """All of a day's transactions, with the hidden truth (``is_fraud``) and the date
        its chargeback arrives (``label_arrival_date``, NaT when never reported)."""
        cfg, w = self.cfg, self.world
        rng = np.random.default_rng([cfg.seed, 2, day_index])
        seasonal = self._drift_on(day_index, "seasonal")
        shifted = self._drift_on(day_index, "fraud_shift")

        # --- honest activity -------------------------------------------------
        n_legit = int(cfg.rows_per_day * 0.985)
        weight = w.customer_weight * np.where(
            seasonal & w.customer_shopper, 3.0, 1.0
        )  # shoppers buy more often
        cust = rng.choice(cfg.n_customers, size=n_legit, p=weight / weight.sum())
        merch = rng.choice(cfg.n_merchants, size=n_legit, p=w.merchant_weight / w.merchant_weight.sum())
        cat = w.merchant_category[merch]
        amount = w.customer_typical_amount[cust] * _CATEGORY_AMOUNT[cat] * rng.lognormal(0, 0.5, n_legit)
        online = rng.random(n_legit) < _CATEGORY_ONLINE[cat]
        hour = np.clip(rng.normal(14, 3.5, n_legit), 0, 23.99)
        if seasonal:
            # holiday shoppers: bursts of large gift purchases, online, around midnight: the
            # very pattern fraud has, so a model trained before the season scores them high
            holiday = w.customer_shopper[cust] & (rng.random(n_legit) < 0.7)
            gift_merch = rng.choice(
                np.flatnonzero(np.isin(w.merchant_category, _GIFT_CATEGORIES)), holiday.sum()
            )
            merch[holiday] = gift_merch
            cat = w.merchant_category[merch]
            amount[holiday] *= rng.uniform(4.0, 12.0, holiday.sum())
            online[holiday] = rng.random(holiday.sum()) < 0.9
            hour[holiday] = rng.normal(23.5, 2.0, holiday.sum()) % 24
        is_fraud = np.zeros(n_legit, dtype=bool)

        # --- fraud -----------------------------------------------------------
        n_fraud = cfg.rows_per_day - n_legit
        victims = np.flatnonzero(self._compromised(day_index))
        if victims.size == 0:
            victims = rng.choice(cfg.n_customers, size=1)
        f_cust = rng.choice(victims, size=n_fraud)
        if shifted:
            # fraud moves to small daytime in-store purchases at clean merchants
            pool = np.flatnonzero(w.merchant_clean_target)
            f_merch = rng.choice(pool, size=n_fraud)
            f_amount = (
                w.customer_typical_amount[f_cust]
                * _CATEGORY_AMOUNT[w.merchant_category[f_merch]]
                * rng.lognormal(0, 0.5, n_fraud)
            )
            f_online = rng.random(n_fraud) < 0.05
            f_hour = np.clip(rng.normal(13, 3, n_fraud), 0, 23.99)
        else:
            p = (w.merchant_risk + 0.03) * w.merchant_weight
            f_merch = rng.choice(cfg.n_merchants, size=n_fraud, p=p / p.sum())
            # part of the fraud is low-key card testing that looks ordinary
            testing = rng.random(n_fraud) < FRAUD_TESTING_SHARE
            f_amount = (
                w.customer_typical_amount[f_cust]
                * _CATEGORY_AMOUNT[w.merchant_category[f_merch]]
                * np.where(testing, rng.lognormal(-0.2, 0.6, n_fraud), rng.lognormal(0.9, 0.7, n_fraud))
            )
            f_online = rng.random(n_fraud) < np.where(testing, 0.35, 0.75)
            f_hour = np.where(
                rng.random(n_fraud) < 0.4,
                rng.normal(2.5, 2.0, n_fraud) % 24,
                np.clip(rng.normal(14, 4, n_fraud), 0, 23.99),
            )

        cust = np.concatenate([cust, f_cust])
        merch = np.concatenate([merch, f_merch])
        amount = np.concatenate([amount, f_amount])
        if self._drift_on(day_index, "currency_switch"):
            amount = amount * CURRENCY_RATE
        amount = np.round(amount, 2).clip(0.5, None)
        online = np.concatenate([online, f_online])
        hour = np.concatenate([hour, f_hour])
        is_fraud = np.concatenate([is_fraud, np.ones(n_fraud, dtype=bool)])

        order = np.argsort(hour, kind="stable")
        n = order.size
        day_start = pd.Timestamp(self.date(day_index), tz="UTC")
        seconds = np.floor(hour[order] * 3600).astype("int64")
        # chargebacks: half arrive within 4 days, ~95% within two weeks, none after the maximum
        delay = np.minimum(1 + rng.gamma(1.5, 3.0, n).astype(int), cfg.label_delay_max_days)
        arrival = pd.to_datetime(self.date(day_index)) + pd.to_timedelta(delay, unit="D")
        reported = is_fraud[order] & (rng.random(n) < 0.95)
        return pd.DataFrame(
            {
                "transaction_id": [f"t{day_index:05d}-{i:07d}" for i in range(n)]
                if n < 200_000
                else np.char.add(f"t{day_index:05d}-", np.char.zfill(np.arange(n).astype(str), 7)),
                "customer_id": cust[order].astype("int64"),
                "merchant_id": merch[order].astype("int64"),
                "amount": amount[order],
                "channel": CHANNELS[online[order].astype(int)],
                "merchant_category": CATEGORIES[w.merchant_category[merch[order]]],
                "event_timestamp": day_start + pd.to_timedelta(seconds, unit="s"),
                "is_fraud": is_fraud[order],
                "label_arrival_date": pd.Series(arrival).where(reported).dt.date.to_numpy(),
            }
        )

    def label_arrivals(self, day_index: int, history: dict[int, pd.DataFrame] | None = None) -> pd.DataFrame:
        """Chargebacks that arrive on a day (for transactions of earlier days)."""
        today = self.date(day_index)
        frames = []
        for d in range(max(0, day_index - self.cfg.label_delay_max_days), day_index):
            tx = history[d] if history and d in history else self.transactions(d)
            hit = tx[tx["label_arrival_date"] == today]
            frames.append(
                hit[["transaction_id", "event_timestamp"]].rename(
                    columns={"event_timestamp": "transaction_timestamp"}
                )
            )
        labels = (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame(
                {
                    "transaction_id": pd.Series(dtype=str),
                    "transaction_timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
                }
            )
        )
        labels["is_fraud"] = True
        # arrival time: spread through the day the chargeback is filed
        rng = np.random.default_rng([self.cfg.seed, 3, day_index])
        labels["arrived_at"] = pd.Timestamp(today, tz="UTC") + pd.to_timedelta(
            rng.integers(0, 86_400, len(labels)), unit="s"
        )
        return labels.sort_values("arrived_at", kind="stable").reset_index(drop=True)

    def customer_snapshot(self, day_index: int) -> pd.DataFrame:
        w = self.world
        ts = pd.Timestamp(self.date(day_index), tz="UTC")
        return pd.DataFrame(
            {
                "customer_id": np.arange(self.cfg.n_customers, dtype="int64"),
                "customer_age_years": w.customer_age_years.astype("float64"),
                "account_age_days": (w.customer_account_start + day_index).astype("float64"),
                "credit_limit": w.customer_credit_limit,
                "event_timestamp": ts,
            }
        )

    def merchant_snapshot(self, day_index: int) -> pd.DataFrame:
        w = self.world
        ts = pd.Timestamp(self.date(day_index), tz="UTC")
        return pd.DataFrame(
            {
                "merchant_id": np.arange(self.cfg.n_merchants, dtype="int64"),
                "merchant_category": CATEGORIES[w.merchant_category],
                "merchant_age_days": (day_index - w.merchant_open_day).astype("float64"),
                "event_timestamp": ts,
            }
        )

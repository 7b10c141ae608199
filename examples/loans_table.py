"""Write a table to bring as your own problem (README, "Bring your own problem"): loan
applications over 60 days, each with whether it defaulted, which the application predicts.

    .venv/bin/python examples/loans_table.py loans.parquet
"""

import sys

import numpy as np
import pandas as pd


def loans_table(days: int = 60, per_day: int = 120, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = days * per_day
    amount = rng.lognormal(8, 1, n)
    region = rng.choice(["north", "south", "east"], n)
    guarantor = rng.random(n) < 0.3
    risk = 0.8 * (np.log(amount) - 8) + np.where(region == "south", 1.0, -0.5) - 1.5 * guarantor
    return pd.DataFrame(
        {
            "loan_id": [f"L{i:06d}" for i in range(n)],
            "applied_at": pd.Timestamp("2025-01-01", tz="UTC")
            + pd.to_timedelta(np.sort(rng.integers(0, 86400 * days, n)), "s"),
            "borrower_id": rng.integers(0, 2000, n),
            "amount": amount,
            "region": region,
            "has_guarantor": guarantor,
            "defaulted": rng.random(n) < 1 / (1 + np.exp(-(risk - 1))),
        }
    )


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "loans.parquet"
    loans_table().to_parquet(path)
    print(f"wrote {path}")

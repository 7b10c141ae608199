"""``ml-assets``: the project's command line (simulate data, bootstrap the demo)."""

from __future__ import annotations

import argparse
import sys

from ml_assets.settings import get_settings


def _simulate(args) -> None:
    from ml_assets.defs.ingest.landing import simulate_to_landing

    written = simulate_to_landing(get_settings(), range(args.first_day, args.first_day + args.days), args.overwrite)
    print(f"simulated {len(written)} day(s) into {get_settings().landing_dir}")


def _bootstrap(args) -> None:
    from ml_assets.bootstrap import bootstrap

    bootstrap(days=args.days)


def _rollback(args) -> None:
    from ml_assets.defs.registry.mlflow_resource import MLflowResource
    from ml_assets.defs.registry.promotion import rollback

    out = rollback(MLflowResource.from_settings(), reason=args.reason)
    print(f"champion is now version {out['champion']} (rolled back from {out['rolled_back_from']})")


def _replay(args) -> None:
    import os

    os.environ["ML_ASSETS_SCENARIO"] = args.scenario
    if args.drift_start_day is not None:
        os.environ["ML_ASSETS_DRIFT_START_DAY"] = str(args.drift_start_day)
    get_settings.cache_clear()
    from ml_assets.replay import replay

    replay(args.days)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ml-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="write simulated daily exports into data/landing")
    p.add_argument("--days", type=int, default=get_settings().demo_days)
    p.add_argument("--first-day", type=int, default=0, help="day index of the first day (0 = start date)")
    p.add_argument("--overwrite", action="store_true", help="regenerate days that already exist")
    p.set_defaults(func=_simulate)

    p = sub.add_parser("bootstrap", help="prepare the demo: simulate and run the daily cycle for missing days")
    p.add_argument("--days", type=int, default=get_settings().demo_days)
    p.set_defaults(func=_bootstrap)

    p = sub.add_parser("rollback", help="move the champion alias back to the previous champion")
    p.add_argument("--reason", default="manual rollback", help="recorded as an MLflow tag on both versions")
    p.set_defaults(func=_rollback)

    p = sub.add_parser("replay", help="replay the production loop day by day (wipes generated data, keeps run history)")
    p.add_argument("--scenario", choices=["stable", "seasonal", "fraud_shift"], default="seasonal")
    p.add_argument("--days", type=int, default=120)
    p.add_argument("--drift-start-day", type=int, default=None, help="day index where the scenario starts")
    p.set_defaults(func=_replay)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""``ml-assets``: the project's command line (simulate data, bootstrap the demo, replay,
roll back). Settings come from the environment (``ML_ASSETS_*``); flags override them."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import typing
from pathlib import Path

from ml_assets.core.settings import DEFAULT_PROBLEM, Scenario, Settings

SCENARIOS = list(typing.get_args(Scenario))


def _simulate(settings: Settings, args) -> None:
    from ml_assets.sources import land_days

    written = land_days(settings, range(args.first_day, args.first_day + args.days), args.overwrite)
    print(f"landed {len(written)} day(s) into {settings.landing_dir}")


def _bootstrap(settings: Settings, args) -> None:
    from ml_assets.bootstrap import bootstrap

    bootstrap(settings, days=args.days or settings.demo_days)


def _rollback(settings: Settings, args) -> None:
    from ml_assets.core import engines
    from ml_assets.core.registry.promotion import rollback

    out = rollback(engines.model_store(settings), reason=args.reason)
    print(f"champion is now version {out.champion} (rolled back from {out.rolled_back_from})")


def _rollback_threshold(settings: Settings, args) -> None:
    from ml_assets.core import engines
    from ml_assets.core.model_store import CHAMPION
    from ml_assets.core.registry.operating_point import rollback

    store = engines.model_store(settings)
    version = args.version or store.alias_version(CHAMPION)
    if version is None:
        raise SystemExit(f"model '{store.model_name}' has no champion: pass --version")
    try:
        event = rollback(store, version, reason=args.reason)
    except RuntimeError as exc:  # nothing to undo: say so, without a traceback
        raise SystemExit(str(exc)) from None
    print(
        f"version {version} decision threshold {event.previous:.6g} -> {event.threshold:.6g} ({event.reason})"
    )


def _replay(settings: Settings, args) -> None:
    from ml_assets.replay import replay

    overrides = {"scenario": args.scenario}
    if args.drift_start_day is not None:
        overrides["drift_start_day"] = args.drift_start_day
    replay(settings.model_copy(update=overrides), args.days)


def _rollout(settings: Settings, args) -> None:
    """Status, promote or abort by hand, in the registry: the service follows within one alias
    poll (serve_reload_seconds), whether or not it is running now."""
    import json

    from ml_assets.core import engines
    from ml_assets.core.registry import rollout

    store = engines.model_store(settings)
    state = rollout.read_state(store)
    if args.action == "status":
        print(json.dumps(dataclasses.asdict(state) | {"active": state.active}, indent=2))
        return
    if not state.active:
        raise SystemExit(
            f"no rollout in progress (challenger {state.challenger}, gate {state.gate}, "
            f"status {state.status}): nothing to {args.action}"
        )
    evidence = {"by": "operator", "step": state.step}
    if args.action == "promote":
        before = rollout.complete(store, state.challenger, evidence, by="operator")
        print(f"version {state.challenger} is champion (previous_champion {before})")
    else:
        rollout.abort(store, state.challenger, args.reason, evidence, by="operator")
        print(f"version {state.challenger} rolled back: {args.reason}; champion stays {state.champion}")


def _scoreboard(settings: Settings, args) -> None:
    from ml_assets import scoreboard
    from ml_assets.core.settings import PROJECT_ROOT
    from ml_assets.replay import scoreboard_all

    boards = scoreboard_all(settings, args.days)
    scoreboard.append_report(
        boards, PROJECT_ROOT / "BENCHMARKS.md", args.days, settings.seed, settings.drift_start_day
    )


def _policy_check(settings: Settings, args) -> None:
    import json

    import dagster as dg

    from ml_assets.policy_check import differs_from_saved, reevaluate
    from ml_assets.replay import world_name

    if args.scenario is not None:
        settings = settings.model_copy(update={"scenario": args.scenario})
    with dg.DagsterInstance.get() as instance:
        decisions = [d for d in reevaluate(instance, settings) if d.day >= (args.since or "")]
    saved = settings.reports_dir / f"replay_{world_name(settings)}_days.json"
    differs = set(differs_from_saved(decisions, json.loads(saved.read_text()))) if saved.exists() else set()
    for d in decisions:
        mark = " (differs from the replay)" if d.day in differs else ""
        print(f"{d.day} v{d.version} {d.action or 'skip'}{mark}: {d.reason}")
    if saved.exists():
        print(f"{len(differs)} of {len(decisions)} days differ from {saved}")


def _rollout_demo(settings: Settings, args) -> None:
    from ml_assets.rollout_demo import rollout_demo

    rollout_demo(settings, args.max_requests)


def _cluster(settings: Settings, args) -> None:
    from ml_assets import cluster_services

    settings = settings.model_copy(update={"profile": "cluster"})
    home = args.dagster_home or settings.data_dir / "dagster-cluster"
    if args.action == "down":
        cluster_services.cluster_down(settings)
        return
    if args.action == "mlflow":  # in the foreground, as a container's command
        from ml_assets import mlflow_server

        mlflow_server.start(settings, None, host=args.host).wait()
        return
    env = (
        cluster_services.cluster_up(settings, home, args.workers, args.setup_only)
        if args.action == "up"
        else cluster_services.cluster_environment(settings) | {"DAGSTER_HOME": str(home)}
    )
    print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in env.items()))
    from ml_assets import mlflow_server

    secrets = mlflow_server.secrets_path(settings)
    if secrets.exists():  # MLflow's credentials, never printed
        print(f"set -a; . {shlex.quote(str(secrets))}; set +a")


def _serve(settings: Settings, args) -> None:
    overrides = {k: v for k, v in {"serve_host": args.host, "serve_port": args.port}.items() if v is not None}
    settings = settings.model_copy(update=overrides)
    # OpenMP reads this once, when LightGBM loads it: with more threads than one, its idle
    # workers spin after every prediction, which cost more CPU than the request itself (measured:
    # 4.6 ms of CPU a request with the default, 1.5 ms with one thread; benchmarks/serving.py)
    if "lightgbm" in sys.modules:
        raise RuntimeError("LightGBM was imported before the service set its thread count")
    os.environ["OMP_NUM_THREADS"] = str(settings.serve_model_threads)
    # the metrics live in this one process (serving/metrics.py): a PROMETHEUS_MULTIPROC_DIR
    # inherited from a parent that imported Feast (which sets it: a test, a notebook) would make
    # prometheus_client keep them in files, in a directory nobody collects
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    import uvicorn

    from ml_assets.core import logs
    from ml_assets.serving.app import create_app

    level = settings.log_level or "INFO"
    logs.configure(level, settings.log_json, loggers=("ml_assets", "uvicorn.error"))
    # one worker: Prometheus metrics live in the process (several would shard them); uvicorn's
    # own log config off, so its lines take the service's format; no access log (per-request
    # counts and latencies are in /metrics)
    uvicorn.run(
        create_app(settings),
        host=settings.serve_host,
        port=settings.serve_port,
        workers=1,
        log_config=None,
        log_level=level.lower(),
        access_log=False,
        timeout_graceful_shutdown=30,
    )


def _clock(settings: Settings, args) -> None:
    from ml_assets.simulator.clock import run_clock

    overrides = {"scenario": args.scenario}
    if args.drift_start_day is not None:
        overrides["drift_start_day"] = args.drift_start_day
    run_clock(settings.model_copy(update=overrides), args.every, args.days)


def _demo(settings: Settings, args) -> None:
    from ml_assets.live_demo import live_demo

    live_demo(settings, args.every, args.days, args.scenario, args.drift_after, args.port)


def _check(settings: Settings, args) -> None:
    """Validate a problem spec and print what it declares; every mistake with its field and fix."""
    from ml_assets.core.problem import PROBLEMS_DIR
    from ml_assets.core.problem.spec import REQUEST_TIMESTAMP, ProblemSpecError, load_spec

    path = args.spec if args.spec is not None else PROBLEMS_DIR / args.name / "problem.yaml"
    try:
        spec = load_spec(path)
    except ProblemSpecError as exc:
        raise SystemExit(str(exc)) from None
    print(f"{path}: valid problem spec {spec.name!r}")
    print(f"  landing tables: {', '.join(f'{n} (landing/{t.landing})' for n, t in spec.tables.items())}")
    print(f"  prediction event: {spec.spine.table}, about {', '.join(spec.spine.entities)}")
    for view in spec.feature_views():
        print(f"  feature view {view.name} ({view.entity}): {', '.join(view.feature_names())}")
    if spec.request_features:
        print(f"  request-time features: {', '.join(spec.request_features)}")
    known = (
        f"from its arrival column {spec.label.arrival}"
        if spec.label.arrival
        else f"{spec.label.delay_days} days after the event"
    )
    print(f"  label: {spec.label.table}.{spec.label.value or '(row present)'}, known {known}")
    for name, table in spec.tables.items():
        rules = [f"{c} {_rule(r)}" for c, r in table.contract.items()]
        rules += [f"{c} may be empty" for c in table.nullable]
        print(f"  contract of {name}: {'; '.join(rules) or 'types, values present'}")
    columns = spec.spine_columns()
    request = dict.fromkeys([columns.id, *columns.keys, *columns.request])  # once each
    fields = [f"{c}: {columns.types[c]}" for c in request]
    print(f"  online request (POST /v1/score): {', '.join(fields)}, {REQUEST_TIMESTAMP}: timestamp")
    if spec.source.kind == "historical_import":
        print(
            f"  source: {spec.source.path} imported a day at a time, labels "
            f"{spec.source.label_delay_days} days after their row"
        )
    categorical = ", ".join(f"{c} ({len(levels)} levels)" for c, levels in spec.model.categorical.items())
    print(f"  model: registered as {spec.registered_model_name}; categorical: {categorical or 'none'}")
    decision = spec.model.decision
    if decision.policy == "threshold":
        flags = f"above the score {decision.value:g}"
    elif decision.policy == "top_k":
        flags = f"the top {decision.value:g} a day (a threshold chosen on the validation window)"
    else:
        flags = f"at a false-positive rate of {decision.value or settings.fixed_fpr:g}"
    print(f"  decision: flags {flags}, the same in batch scoring and online")
    chunk = "that day" if spec.monitoring.chunk_days == 1 else "the week ending on it"
    print(f"  monitoring: each day judged on {chunk}")
    prefix = "" if spec.name == DEFAULT_PROBLEM else f"{spec.name}/"
    print(
        f"  runs in: data/{spec.name}/, Feast project {spec.name}, asset keys {prefix}<asset> "
        f"(ml-assets --problem {spec.name} bootstrap | serve; make dev shows it)"
    )


def _rule(rule) -> str:
    """A column's contract in words (ml-assets check)."""
    words = [
        f"{op} {getattr(rule, name):g}"
        for name, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
        if getattr(rule, name) is not None
    ]
    if rule.values:
        words.append(f"in {rule.values}")
    if rule.pattern:
        words.append(f"matching {rule.pattern}")
    return " and ".join(words)


def _init(settings: Settings, args) -> None:
    """Draft problems/NAME/problem.yaml from one historical table, then say what is left to fill."""
    from ml_assets.core.problem import PROBLEMS_DIR
    from ml_assets.core.problem.scaffold import draft, write_draft
    from ml_assets.core.problem.spec import ProblemSpecError, placeholders

    try:
        spec = draft(args.name, args.source, args.id, args.timestamp, args.label, args.label_delay_days)
        path = write_draft(spec, PROBLEMS_DIR / args.name / "problem.yaml")
    except ProblemSpecError as exc:
        raise SystemExit(str(exc)) from None
    print(f"wrote {path}")
    from ml_assets.core.settings import PROJECT_ROOT
    from ml_assets.locations import add_location

    if add_location(PROJECT_ROOT / "workspace.yaml", args.name):
        print(f"added its code location to {PROJECT_ROOT / 'workspace.yaml'} (make dev shows it)")
    left = placeholders(spec)
    print(
        f"fill the {len(left)} placeholder(s), then: ml-assets check {args.name}\n  " + "\n  ".join(left)
        if left
        else f"next: ml-assets check {args.name}"
    )


def _problem_schema(settings: Settings, args) -> None:
    """Write the problem spec's JSON schema for editors (problems/problem.schema.json)."""
    import json

    from ml_assets.core.problem import SCHEMA_PATH
    from ml_assets.core.problem.spec import ProblemSpec

    SCHEMA_PATH.write_text(json.dumps(ProblemSpec.model_json_schema(), indent=2) + "\n")
    print(f"wrote {SCHEMA_PATH}")


def main(argv: list[str] | None = None, settings: Settings | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ml-assets", description=__doc__)
    parser.add_argument(
        "--problem",
        default=None,
        help="the problem every command runs (a folder under problems/; default: ML_ASSETS_PROBLEM, "
        "else card_fraud)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "simulate",
        help="land daily export files into data/<problem>/landing from the problem's source (the simulator, "
        "or its imported table)",
    )
    p.add_argument("--days", type=int, default=None, help="how many days (default: settings.demo_days)")
    p.add_argument("--first-day", type=int, default=0, help="day index of the first day (0 = start date)")
    p.add_argument("--overwrite", action="store_true", help="regenerate days that already exist")
    p.set_defaults(func=_simulate)

    p = sub.add_parser(
        "bootstrap", help="prepare the demo: simulate and run the daily cycle for missing days"
    )
    p.add_argument("--days", type=int, default=None, help="how many days (default: settings.demo_days)")
    p.set_defaults(func=_bootstrap)

    p = sub.add_parser("rollback", help="move the champion alias back to the previous champion")
    p.add_argument("--reason", default="manual rollback", help="recorded as an MLflow tag on both versions")
    p.set_defaults(func=_rollback)

    p = sub.add_parser(
        "rollback-threshold",
        help="undo the newest re-fit of a version's decision threshold (default: champion)",
    )
    p.add_argument("--version", default=None, help="the model version (default: the champion)")
    p.add_argument("--reason", default="manual rollback", help="recorded in the version's threshold history")
    p.set_defaults(func=_rollback_threshold)

    p = sub.add_parser(
        "replay", help="replay the production loop day by day (wipes generated data, keeps run history)"
    )
    p.add_argument("--scenario", choices=SCENARIOS, default="seasonal")
    p.add_argument("--days", type=int, default=120)
    p.add_argument("--drift-start-day", type=int, default=None, help="day index where the scenario starts")
    p.set_defaults(func=_replay)

    p = sub.add_parser(
        "scoreboard", help="replay the three scenarios (own data and instance each) and score the recovery"
    )
    p.add_argument("--days", type=int, default=120)
    p.set_defaults(func=_scoreboard)

    p = sub.add_parser(
        "policy-check",
        help="the retrain policy evaluated again, day by day, on this instance's event log (a finished "
        "replay's): each day's decision, and which differ from the replay's own",
    )
    p.add_argument("--scenario", choices=SCENARIOS, default=None, help="the replay's (default: settings)")
    p.add_argument("--since", default=None, help="the first day shown (YYYY-MM-DD)")
    p.set_defaults(func=_policy_check)

    p = sub.add_parser("rollout", help="the challenger's rollout in the registry: status, promote or abort")
    p.add_argument("action", choices=["status", "promote", "abort"])
    p.add_argument("--reason", default="manual abort", help="recorded on the version (abort)")
    p.set_defaults(func=_rollout)

    p = sub.add_parser(
        "rollout-demo",
        help="roll out a worse and an equal challenger through the real service (after make dev)",
    )
    p.add_argument("--max-requests", type=int, default=3000, help="per scenario, at most")
    p.set_defaults(func=_rollout_demo)

    p = sub.add_parser("clock", help="land the next simulated days' exports, one every --every seconds")
    p.add_argument("--every", type=float, default=60.0, help="seconds between days")
    p.add_argument("--days", type=int, default=1, help="how many days to land")
    p.add_argument("--scenario", choices=SCENARIOS, default="stable")
    p.add_argument("--drift-start-day", type=int, default=None, help="day index where the scenario starts")
    p.set_defaults(func=_clock)

    p = sub.add_parser(
        "demo",
        help="the loop live under the daemon: dg dev with the sensors on, and a day landing every few s",
    )
    p.add_argument("--every", type=float, default=60.0, help="seconds between simulated days")
    p.add_argument("--days", type=int, default=30, help="how many days the clock lands")
    p.add_argument("--scenario", choices=SCENARIOS, default="seasonal")
    p.add_argument("--drift-after", type=int, default=3, help="days of the stable world before the drift")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=_demo)

    p = sub.add_parser(
        "cluster",
        help="the cluster profile's own processes: up (databases, Dagster instance on Postgres, MLflow "
        "server), down, env (the variables its processes need), mlflow (only the MLflow server, with "
        "its auth app, in the foreground)",
    )
    p.add_argument("action", choices=["up", "down", "env", "mlflow"])
    p.add_argument("--host", default=None, help="mlflow: where the server listens (default: its URL's host)")
    p.add_argument("--dagster-home", type=Path, default=None, help="default: <data_dir>/dagster-cluster")
    p.add_argument("--workers", type=int, default=2, help="Celery workers to start (up)")
    p.add_argument(
        "--setup-only",
        action="store_true",
        help="up: only the databases and the instance (a compose setup step)",
    )
    p.set_defaults(func=_cluster)

    p = sub.add_parser(
        "check", help="validate a problem spec (problems/NAME/problem.yaml) and print what it declares"
    )
    p.add_argument(
        "name", nargs="?", default=None, help="the problem's folder under problems/ (default: --problem)"
    )
    p.add_argument("--spec", type=Path, default=None, help="a spec file elsewhere (instead of NAME)")
    p.set_defaults(func=_check)

    p = sub.add_parser(
        "init", help="draft problems/NAME/problem.yaml from one historical table (Parquet or CSV)"
    )
    p.add_argument("name", help="the problem's name (a folder under problems/)")
    p.add_argument("--from", dest="source", type=Path, required=True, help="the table: .parquet or .csv")
    p.add_argument("--id", required=True, help="the column that identifies a row")
    p.add_argument("--timestamp", required=True, help="the column saying when a row happened")
    p.add_argument("--label", required=True, help="the column holding what is predicted")
    p.add_argument("--label-delay-days", type=int, default=None, help="days until a row's label is known")
    p.set_defaults(func=_init)

    p = sub.add_parser(
        "problem-schema", help="write the problem spec's JSON schema (problems/problem.schema.json)"
    )
    p.set_defaults(func=_problem_schema)

    p = sub.add_parser("serve", help="the online scoring service (FastAPI + uvicorn, one worker)")
    p.add_argument("--host", default=None, help="default: settings.serve_host (127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="default: settings.serve_port (8000)")
    p.set_defaults(func=_serve)

    args = parser.parse_args(argv)
    if args.func in (_bootstrap, _replay, _scoreboard, _demo):
        from ml_assets.quiet import quiet_libraries

        quiet_libraries()
    if args.problem is not None:
        if settings is not None and settings.problem != args.problem:
            raise SystemExit(f"--problem {args.problem}: these settings are for {settings.problem}")
        # the environment carries the choice to everything this process starts (the service, the
        # code location, run workers): a process runs one problem
        os.environ["ML_ASSETS_PROBLEM"] = args.problem
    settings = settings or Settings()
    if args.func is not _serve:  # the service sets up its own (with uvicorn's loggers)
        from ml_assets.core import logs

        logs.configure(settings.log_level or "WARNING", settings.log_json)
    if args.func is _check and args.name is None:
        args.name = settings.problem
    if args.func is _simulate and args.days is None:
        args.days = settings.demo_days
    args.func(settings, args)


if __name__ == "__main__":
    sys.exit(main())

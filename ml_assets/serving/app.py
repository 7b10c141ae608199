"""The scoring service: FastAPI over ``ml_assets.core.serving``. One worker (Prometheus
metrics live in the process), bound to loopback by default (settings)."""

import collections
import contextlib
import datetime as dt
import gc
import math
import time
from typing import Annotated

from fastapi import Depends, FastAPI, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    create_model,
)

from ml_assets.core.settings import Settings
from ml_assets.serving import auth, v2
from ml_assets.serving.fast_path import FastRoute, OffLoop, ScoreFastPath, ScoreResponse
from ml_assets.serving.metrics import MetricsMiddleware, ServiceMetrics, forget_feast_multiproc_dir
from ml_assets.serving.request_ids import RequestIds


class ScoreResult(BaseModel):
    """Model-generated: the spine's id, echoed under its own name, is added per problem
    (``score_result_model``)."""

    score: float = Field(description="estimated probability of the positive label")
    decision: bool = Field(description="true: act on the event (score above the version's threshold)")
    model_version: str
    arm: str = Field(description="which arm answered: champion, or canary (the challenger, during a rollout)")
    feature_age_seconds: dict[str, float | None] = Field(
        description="per feature view: age of the online row at the transaction's time; null when missing"
    )
    missing_views: list[str] = Field(description="views without an online row for this entity")
    stale_views: list[str] = Field(description="views whose row is older than the view's TTL")
    unknown_entity: bool = Field(description="an entity of the event had no online features")


def score_result_model(id_name: str, id_type: type) -> type[BaseModel]:
    return create_model(
        "ScoreResult", __base__=ScoreResult, **{id_name: (id_type, Field(description="the event's id"))}
    )


class ServingVersion(BaseModel):
    alias: str
    model_version: str
    threshold: float
    loaded_at: dt.datetime


class Models(BaseModel):
    models: list[ServingVersion]


class RolloutAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("manual abort", min_length=1, max_length=500, description="recorded on the version")


class RolloutStatus(BaseModel):
    champion: str | None
    challenger: str | None = Field(description="the version being rolled out, if any")
    step: int | None
    steps: list[float] = Field(description="the challenger's share of customers at each step (0 = shadow)")
    share: float
    shadow_share: float
    window_samples: int = Field(description="paired requests in the current step's window (this replica's)")
    leader: bool = Field(description="whether this replica judges the rollout (always, with one replica)")
    ended: dict[str, str] = Field(description="rollouts this replica saw end: version -> outcome")
    verdicts: list[dict] = Field(description="the latest verdicts, with their numbers")
    realized: dict | None = Field(
        description="realized ROC AUC by arm on labelled paired traffic, once labels are in"
    )


def _finite(value):
    """``value`` with every non-finite float written as text ("nan", "inf", "-inf")."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _offline_docs(app: FastAPI) -> None:
    """The interactive API docs at /docs with Swagger UI's own files, packaged on PyPI
    (swagger-ui-bundle-v2), so the page renders with no network."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-static", StaticFiles(directory=swagger_ui_path), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - docs",
            swagger_js_url="/docs-static/swagger-ui-bundle.js",
            swagger_css_url="/docs-static/swagger-ui.css",
            swagger_favicon_url="/docs-static/favicon-32x32.png",
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    from ml_assets.core.problem import problem_spec
    from ml_assets.serving.events import event_model

    settings = settings or Settings()
    # the request and response models of the problem's events (its spec's spine)
    spec = problem_spec(settings)
    spine, batch_field = spec.spine_columns(), spec.serving.batch_field
    Event = event_model(spec)  # noqa: N806 (a class)
    Result = score_result_model(spine.id, str if spine.types[spine.id] == "str" else int)  # noqa: N806
    BatchResult = create_model("BatchResult", results=(list[Result], ...))  # noqa: N806
    metrics = ServiceMetrics()
    state: dict = {"ready": False, "reason": "starting"}

    def on_swap(model) -> None:
        metrics.reloads.labels(model.alias).inc()
        if state.get("controller") is not None:
            state["controller"].set_champion(model)
        serving_info(model)
        try_ready()

    def serving_info(model) -> None:
        previous = state.get("serving", {}).get(model.alias)
        if previous is not None:
            metrics.model_info.remove(model.alias, previous)
        metrics.model_info.labels(model.alias, model.version).set(1)
        state.setdefault("serving", {})[model.alias] = model.version
        metrics.model_loaded.labels(model.alias).set(model.loaded_at)

    def on_verdict(verdict) -> None:
        metrics.rollout_verdicts.labels(verdict.outcome).inc()
        if verdict.outcome != "hold":
            for name in ("rank_correlation", "score_ks", "flag_rate_champion", "flag_rate_challenger"):
                metrics.rollout_evidence.labels(name).set(getattr(verdict, name))

    def on_end(outcome: str, version: str) -> None:
        from ml_assets.core.registry.rollout import PROMOTED, ROLLED_BACK

        if outcome == ROLLED_BACK:
            metrics.rollout_aborts.inc()
        elif outcome == PROMOTED:
            metrics.rollout_promotions.inc()
            # the champion moved in memory: the watcher must not load it a second time
            state["watcher"].current = state["controller"].routing.champion
            serving_info(state["watcher"].current)

    def try_ready() -> None:
        """Ready once a champion is loaded, the feature store answers, and a warm-up read and
        prediction went through; until then /readyz and scoring answer 503 with the reason."""
        if state["ready"]:
            return
        from ml_assets.core.serving import OnlineScorer

        try:
            if state.get("scorer") is None:
                state["scorer"] = OnlineScorer(
                    state["repo"],
                    state["controller"],
                    state["store"].model_name,
                    settings.serve_feature_cache_rows,
                )
                forget_feast_multiproc_dir()  # Feast is loaded by now
            if state["watcher"].current is None:
                state["reason"] = "no champion model yet: run make dev (or materialize promotion)"
                return
            state["scorer"].warm_up()
        except Exception as exc:  # e.g. `feast apply` never ran: stay up, say why, retry next poll
            state["reason"] = f"the feature store is not ready ({type(exc).__name__}: {exc}): run make dev"
            return
        # what is loaded by now (Feast, MLflow, pandas, the model: ~300k objects) lives as long as
        # the process: out of the cyclic collector's reach, a full pass no longer stalls the
        # requests behind it (~95 ms each; single-request p99 under wrk ~100 ms -> ~12 ms,
        # BENCHMARKS.md)
        gc.freeze()
        state["ready"] = True

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        from ml_assets.core import engines
        from ml_assets.core.model_store import CHALLENGER
        from ml_assets.core.monitoring.online import realized_by_arm
        from ml_assets.core.rollout import RolloutController, RolloutPolicy
        from ml_assets.core.rollout.shared import shared_rollout
        from ml_assets.core.scoring import ServingModel
        from ml_assets.core.serving import ModelWatcher, PredictionLogWriter, warm

        repo, store, tables = (
            engines.feature_repo(settings),
            engines.model_store(settings),
            engines.warehouse(settings),
        )
        n_features = len(repo.specs.model_features())
        shared = shared_rollout(settings) if settings.rollout_shared else None
        controller = RolloutController(
            store,
            RolloutPolicy.from_settings(settings),
            shared=shared,
            clock=time.time if shared else time.monotonic,  # replicas share one clock: the wall's
            load=lambda version: warm(ServingModel.by_version(store, version, CHALLENGER), n_features),
            on_verdict=on_verdict,
            on_end=on_end,
            realized=lambda champion, challenger: realized_by_arm(
                tables,
                settings.lake_dir,
                champion,
                challenger,
                settings.label_delay_max_days,
            ),
        )
        watcher = ModelWatcher(store, n_features, on_swap=on_swap)
        writer = PredictionLogWriter(
            tables,
            settings.prediction_log_capacity,
            settings.prediction_log_batch_rows,
            settings.prediction_log_flush_seconds,
            on_write=metrics.log_written.inc,
            on_drop=metrics.log_dropped.inc,
        )
        state.update(repo=repo, store=store, watcher=watcher, writer=writer, controller=controller)
        writer.start()

        def after_poll() -> None:
            controller.sync()  # start, resume or drop a challenger's rollout as the registry says
            controller.check_progress()  # a step's time up, or its progress deadline passed
            controller.check_realized()  # throttled: every rollout_realized_check_seconds
            try_ready()

        try:
            watcher.poll()  # loads the champion (and makes the service ready) when there is one
            controller.sync()
        except Exception as exc:  # the registry is not there yet: stay up, say why, retry each poll
            state["reason"] = f"loading the models failed ({type(exc).__name__}: {exc})"
        try_ready()
        watcher.start(settings.serve_reload_seconds, after_poll=after_poll)
        yield
        state["ready"] = False
        watcher.stop()
        controller.close()  # pending registry moves land before the process ends
        if shared is not None:  # the evidence this replica saw, and the lease, to the others
            shared.flush()
            shared.lease.release()
        writer.stop()  # drains: every accepted prediction reaches the log

    app = FastAPI(
        title="ml-assets scoring service",
        version="1",
        description="Scores card transactions with the champion fraud model on Feast online features.",
        lifespan=lifespan,
        # FastAPI's built-in OpenTelemetry hooks: off (this service exports Prometheus metrics,
        # and nothing is sent anywhere)
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        # a 413 above it; applied outside every middleware, the fast path's requests included
        max_body_size=settings.serve_max_body_bytes,
        # /docs and /redoc are served below from a packaged Swagger UI: FastAPI's default pages
        # load their scripts from a CDN, and rendered blank on a machine without one
        docs_url=None,
        redoc_url=None,
    )
    _offline_docs(app)
    require_admin = auth.admin(settings.serve_admin_tokens)
    # declared only when a token is set: the OpenAPI schema then says scoring needs one
    scoring_auth = [Depends(auth.scoring(settings.serve_score_token))] if settings.serve_score_token else []
    admin_answers = {
        401: {"description": "no valid admin token"},
        403: {"description": "admin endpoints off"},
    }

    from ml_assets.core.serving import FeaturesUnavailable

    def fast_answer(transaction: Event) -> dict | None:
        if not state["ready"]:
            return None
        try:
            return score([transaction])[0]
        except FeaturesUnavailable:
            return None  # FastAPI's route meets the same and answers 503 in its own words

    batch_request = create_model(
        "BatchRequest",
        __config__=ConfigDict(extra="forbid"),
        **{batch_field: (list[Event], Field(min_length=1, max_length=settings.serve_max_batch))},
    )

    def fast_batch_answer(request) -> dict | None:
        if not state["ready"]:
            return None
        try:
            return {"results": score(getattr(request, batch_field))}
        except FeaturesUnavailable:
            return None  # as for one transaction

    # large batches are scored on a worker thread, one at a time, on every path (fast, FastAPI's,
    # V2): the event loop keeps answering /healthz, /readyz and single events meanwhile
    off_loop = OffLoop(settings.serve_inline_batch_rows)

    def score_off_loop(fn, events):
        return off_loop.call(fn, events, len(events))

    def served_models() -> list:
        """The champion, then a challenger during a rollout."""
        routing = state["controller"].routing if state.get("controller") else None
        return [m for m in (routing.champion, routing.challenger) if m is not None] if routing else []

    def served_versions() -> list[str]:
        return [m.version for m in served_models()]

    # the fast path sits inside the metrics middleware, so its requests are counted and timed
    app.add_middleware(
        ScoreFastPath,
        routes={
            # far above any event's JSON, and any full batch's
            "/v1/score": FastRoute(Event, fast_answer, max_body=64 * 1024),
            "/v1/score/batch": FastRoute(
                batch_request,
                fast_batch_answer,
                max_body=settings.serve_max_batch * 1024,
                off_loop=off_loop,
                rows=lambda request: len(getattr(request, batch_field)),
            ),
        },
        authorized=lambda scope: auth.scope_authorized(scope, settings.serve_score_token),
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIds)  # added last: outermost

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler, except that a non-finite number the client sent (JSON's NaN,
        # Infinity) is echoed as text: as a float it cannot be written as JSON, and the 422
        # became a 500 (found by test_the_fast_path_answers_as_fastapi_answers)
        return JSONResponse({"detail": _finite(jsonable_encoder(exc.errors()))}, status_code=422)

    @app.exception_handler(FeaturesUnavailable)
    async def features_unavailable(request, exc: FeaturesUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    def not_ready() -> JSONResponse:
        return JSONResponse({"detail": f"not ready: {state['reason']}"}, status_code=503)

    def score(transactions: list) -> list[dict]:
        results, logged = state["scorer"].score([t.model_dump() for t in transactions])
        state["writer"].offer(logged)  # queue depth is read at scrape time (/metrics), not per request
        # counters move once per label set and request, not once per transaction: a batch's
        # per-row metric calls cost more than its prediction (measured: bench-serve)
        predicted: collections.Counter = collections.Counter()
        missing: collections.Counter = collections.Counter()
        stale: collections.Counter = collections.Counter()
        ages: dict[str, float] = {}
        histograms: dict[str, object] = {}  # each version's score histogram, looked up once

        def observe(version: str, score: float) -> None:
            if version not in histograms:
                histograms[version] = metrics.scores.labels(version)
            histograms[version].observe(score)

        if logged.rows > len(results):  # a rollout: the unseen arm's scores, by version, beside the answers
            shadow = zip(
                *(logged.column(c) for c in ("arm", "model_version", "decision", "score")), strict=True
            )
            for arm, version, decision, score in shadow:
                if arm == "shadow":
                    predicted[version, "shadow", str(decision).lower()] += 1
                    observe(version, score)
        out = []
        for r in results:
            predicted[r.model_version, r.arm, str(r.decision).lower()] += 1
            observe(r.model_version, r.score)
            for view, age in r.feature_age_seconds.items():
                if age is None:
                    missing[view] += 1
                else:
                    ages[view] = age  # a gauge: the request's last transaction's age is the value
            for view in r.stale_views:
                stale[view] += 1
            # plain dicts of plain types: the response model documents them (and the property-based
            # test checks every response against it) without a second validation per request
            answer = {spine.id: r.event_id, **r.__dict__, "unknown_entity": bool(r.missing_views)}
            del answer["event_id"]
            out.append(answer)
        for labels, n in predicted.items():
            metrics.predictions.labels(*labels).inc(n)
        for view, n in missing.items():
            metrics.missing.labels(view).inc(n)
        for view, n in stale.items():
            metrics.stale.labels(view).inc(n)
        for view, age in ages.items():
            metrics.feature_age.labels(view).set(age)
        return out

    @app.post(
        "/v1/score",
        response_model=Result,
        responses={503: {"description": "not ready"}},
        dependencies=scoring_auth,
    )
    async def score_one(transaction: Event):
        if not state["ready"]:
            return not_ready()
        return ScoreResponse(score([transaction])[0])

    @app.post(
        "/v1/score/batch",
        response_model=BatchResult,
        responses={503: {"description": "not ready"}},
        dependencies=scoring_auth,
    )
    async def score_batch(request: batch_request):  # type: ignore[valid-type]
        if not state["ready"]:
            return not_ready()
        results = await score_off_loop(score, getattr(request, batch_field))
        return ScoreResponse({"results": results})

    @app.get("/v1/models", response_model=Models)
    async def models():
        return Models(
            models=[
                ServingVersion(
                    alias=m.alias,
                    model_version=m.version,
                    threshold=m.threshold,
                    loaded_at=dt.datetime.fromtimestamp(m.loaded_at, dt.UTC),
                )
                for m in served_models()
            ]
        )

    @app.get("/v1/rollout", response_model=RolloutStatus)
    async def rollout_status():
        if state.get("controller") is None:
            return not_ready()
        return state["controller"].status()

    @app.post(
        "/v1/rollout/abort",
        response_model=RolloutStatus,
        responses={409: {"description": "no rollout"}, **admin_answers},
    )
    async def rollout_abort(action: RolloutAction, actor: Annotated[str, Depends(require_admin)]):
        """Stop the rollout now: the challenger answers and shadows nothing from this request on,
        and is tagged rolled back (with the reason and who) in the registry. Needs an admin token."""
        if (
            state.get("controller") is None
            or state["controller"].abort(action.reason, by=f"operator:{actor}") is None
        ):
            return JSONResponse({"detail": "no rollout in progress"}, status_code=409)
        return state["controller"].status()

    @app.post(
        "/v1/rollout/promote",
        response_model=RolloutStatus,
        responses={409: {"description": "no rollout"}, **admin_answers},
    )
    async def rollout_promote(actor: Annotated[str, Depends(require_admin)]):
        """Complete the rollout now: the challenger becomes champion (previous_champion keeps the
        old); who did it is recorded on the version. Needs an admin token."""
        if state.get("controller") is None or state["controller"].promote(by=f"operator:{actor}") is None:
            return JSONResponse({"detail": "no rollout in progress"}, status_code=409)
        return state["controller"].status()

    app.include_router(
        v2.router(
            v2.V2Service(
                spec=spec,
                event_model=Event,
                model_name=lambda: state["store"].model_name,
                versions=served_versions,
                not_ready=lambda: None if state["ready"] else state["reason"],
                score=score,
                score_off_loop=score_off_loop,
                max_batch=settings.serve_max_batch,
                version=app.version,
            ),
            infer_dependencies=scoring_auth,
        )
    )

    @app.get("/healthz")
    async def healthz():
        return {"live": True}

    @app.get("/readyz", responses={503: {"description": "not ready, or the online store unreachable"}})
    def readyz():  # a plain def: the store probe blocks, so it runs on the thread pool
        if not state["ready"]:
            return not_ready()
        state["scorer"].probe()  # FeaturesUnavailable -> 503 with the reason
        return {"ready": True}

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"description": "Prometheus text exposition format"}},
    )
    async def prometheus_metrics():
        if state.get("writer"):
            metrics.queue_depth.set(state["writer"].queued)
        routing = state["controller"].routing if state.get("controller") else None
        live = routing is not None and routing.challenger is not None
        metrics.rollout_step.set(routing.step if live else -1)
        metrics.rollout_share.labels("canary").set(routing.share if live else 0.0)
        metrics.rollout_share.labels("shadow").set(routing.shadow_share if live else 0.0)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app

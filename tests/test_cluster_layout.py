"""The production layout that cannot run here (Kubernetes, docker compose) parsed and held to
the tested cluster profile: the same settings, the same instance config, probes and scrape
annotations on routes the service really has."""

from pathlib import Path

import pytest
import yaml

from ml_assets.core.settings import PROJECT_ROOT, Settings

DEPLOY = PROJECT_ROOT / "deploy"
TELEMETRY_OFF = {
    "MLFLOW_DISABLE_TELEMETRY",
    "DAGSTER_DISABLE_TELEMETRY",
    "DO_NOT_TRACK",
    "NML_DISABLE_USAGE_LOGGING",
}


def _load(path: Path):
    return yaml.safe_load(path.read_text())


def _settings_of(env: dict[str, str], tmp_path) -> Settings:
    """Settings as a pod would read them from ``env``: every ML_ASSETS_ key must be a field."""
    fields = {f"ML_ASSETS_{name.upper()}": name for name in Settings.model_fields}
    own = {
        k: v for k, v in env.items() if k.startswith("ML_ASSETS_") and k != "ML_ASSETS_DAGSTER_POSTGRES_URL"
    }
    unknown = set(own) - set(fields)
    assert not unknown, f"not settings fields: {unknown}"
    assert TELEMETRY_OFF <= set(env), "third-party telemetry must be off in every process"
    values = {fields[k]: v for k, v in own.items() if k not in ("ML_ASSETS_DATA_DIR", "ML_ASSETS_DATA_ROOT")}
    return Settings(data_dir=tmp_path, **values)


def test_compose_runs_the_tested_profile(tmp_path):
    compose = _load(DEPLOY / "compose" / "docker-compose.yml")
    services = compose["services"]
    ours = {name: s for name, s in services.items() if "ML_ASSETS_PROFILE" in s.get("environment", {})}
    assert {"mlflow", "dagster-webserver", "dagster-daemon", "scoring-service", "setup"} <= set(ours)
    env = ours["dagster-daemon"]["environment"]
    settings = _settings_of(env, tmp_path)
    assert settings.profile == "cluster" and "+psycopg2://" in settings.postgres_url
    assert env["ML_ASSETS_DAGSTER_POSTGRES_URL"] == settings.database_url("dagster")
    # the instance config is the tested one, mounted where DAGSTER_HOME points
    mount = next(v for v in ours["dagster-daemon"]["volumes"] if v.split(":")[1].endswith("dagster.yaml"))
    assert (DEPLOY / "compose" / mount.split(":")[0]).resolve() == DEPLOY / "cluster" / "dagster.yaml"
    assert mount.split(":")[1] == f"{env['DAGSTER_HOME']}/dagster.yaml"
    # the MLflow server is the one the tests start (ml_assets/mlflow_server.py), its auth app on
    command = ours["mlflow"]["command"]
    assert command[:3] == ["ml-assets", "cluster", "mlflow"]
    from ml_assets.mlflow_server import server_command

    tested = server_command(settings, host=command[command.index("--host") + 1])
    assert tested[tested.index("--app-name") + 1] == "basic-auth"
    assert f":{tested[tested.index('--port') + 1]}" in settings.mlflow_server_url
    _mlflow_secrets_from_the_host(ours)
    # the workers read the executor's config: the same broker and options as the tested one
    worker = services["celery-worker"]
    mounted = {v.split(":")[1]: (DEPLOY / "compose" / v.split(":")[0]).resolve() for v in worker["volumes"]}
    config_path = worker["command"][worker["command"].index("-y") + 1]
    celery = _load(mounted[config_path])["execution"]["config"]
    assert celery["broker"] == {"env": "ML_ASSETS_CELERY_BROKER_URL"}
    from ml_assets.core.engines import celery_config

    assert {**celery, "broker": settings.celery_broker_url} == celery_config(settings)
    assert _worker_args(worker["command"]) == _worker_args_tested(config_path)
    for service in services.values():  # host ports on loopback only
        assert all(str(p).startswith("127.0.0.1:") for p in service.get("ports", []))
    # every problem's code location (workspace.yaml, in the project the image holds) and service
    _workspace_locations()
    for name in ("dagster-webserver", "dagster-daemon"):
        command = ours[name]["command"]
        assert command[command.index("-w") + 1] == "workspace.yaml" and ours[name]["working_dir"]
    served = {
        (c[c.index("--problem") + 1] if "--problem" in c else "card_fraud")
        for c in (s["command"] for s in ours.values())
        if "serve" in c
    }
    assert served == set(_workspace_locations())


def _mlflow_secrets_from_the_host(services: dict) -> None:
    """Every process speaks to MLflow as the platform user, its password interpolated from the
    host's environment (compose refuses to start without it), never written in the file."""
    for name, service in services.items():
        env = service["environment"]
        assert env["MLFLOW_TRACKING_USERNAME"] == "ml-assets", name
        assert env["MLFLOW_TRACKING_PASSWORD"].startswith("${MLFLOW_TRACKING_PASSWORD:?"), name
    server = services["mlflow"]["environment"]
    for secret in ("MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
        assert server[secret].startswith(f"${{{secret}:?"), secret


def test_kubernetes_config_and_helm_values_match_the_profile(tmp_path):
    config = _load(DEPLOY / "k8s" / "ml-assets-config.yaml")
    settings = _settings_of(config["data"], tmp_path)
    values = _load(DEPLOY / "k8s" / "dagster-values.yaml")
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    pg = values["postgresql"]
    assert pg["postgresqlDatabase"] == settings.database_url("dagster").rsplit("/", 1)[1]
    assert pg["postgresqlScheme"] == "postgresql+psycopg2"
    instance = _load(DEPLOY / "cluster" / "dagster.yaml")
    assert values["concurrency"]["pools"]["defaultLimit"] == instance["concurrency"]["pools"]["default_limit"]
    assert (
        values["concurrency"]["runs"]["maxConcurrentRuns"]
        == instance["concurrency"]["runs"]["max_concurrent_runs"]
    )
    # a code location per problem, as workspace.yaml: the module and attribute each one loads
    located = {}
    for deployment in values["dagster-user-deployments"]["deployments"]:
        args = deployment["dagsterApiGrpcArgs"]
        module, attribute = args[args.index("--module-name") + 1], args[args.index("--attribute") + 1]
        located[attribute] = module
        assert (
            deployment["volumeMounts"] == values["dagster-user-deployments"]["deployments"][0]["volumeMounts"]
        )
    assert located == {name: "ml_assets.locations" for name in _workspace_locations()}
    assert values["telemetry"]["enabled"] is False


def _workspace_locations() -> list[str]:
    """The problems workspace.yaml loads (ml_assets.locations' attributes), every shipped one."""
    from ml_assets.core.problem import problem_names

    workspace = _load(PROJECT_ROOT / "workspace.yaml")["load_from"]
    names = [entry["python_module"]["attribute"] for entry in workspace]
    assert sorted(names) == sorted(problem_names())
    return names


def _worker_args(command: list[str]) -> list[str]:
    """A worker command without its program path and node name (a pod's default name is fine)."""
    args = [Path(command[0]).name, *command[1:]]
    if "-n" in args:
        del args[args.index("-n") : args.index("-n") + 2]
    return args


def _worker_args_tested(config_path: str) -> list[str]:
    from ml_assets.cluster_services import celery_worker_command

    return _worker_args(celery_worker_command(Path(config_path), "any"))


def _pod_mounts(volumes: list[dict], mounts: list[dict]) -> dict[str, str]:
    """mount path -> the claim or config map behind it."""
    source = {
        v["name"]: (v.get("persistentVolumeClaim") or {}).get("claimName")
        or v.get("configMap", {}).get("name")
        for v in volumes
    }
    return {m["mountPath"]: source[m["name"]] for m in mounts}


def test_kubernetes_workers_run_the_tested_executor_and_every_pod_shares_the_lake():
    config = _load(DEPLOY / "k8s" / "ml-assets-config.yaml")["data"]
    lake = config["ML_ASSETS_DATA_ROOT"]
    claim = _load(DEPLOY / "k8s" / "lake-volume.yaml")
    assert claim["kind"] == "PersistentVolumeClaim" and claim["spec"]["accessModes"] == ["ReadWriteMany"]
    claim_name = claim["metadata"]["name"]
    # the Celery workers: the tested worker command, the instance and executor config files
    workers = _load(DEPLOY / "k8s" / "celery-workers.yaml")["spec"]["template"]["spec"]
    (worker,) = workers["containers"]
    config_path = worker["command"][worker["command"].index("-y") + 1]
    assert _worker_args(worker["command"]) == _worker_args_tested(config_path)
    env = {e["name"]: e.get("value") for e in worker["env"]}
    mounts = _pod_mounts(workers["volumes"], worker["volumeMounts"])
    assert mounts[env["DAGSTER_HOME"]] == "ml-assets-dagster-config"
    assert Path(config_path).parent == Path(env["DAGSTER_HOME"])
    assert "ML_ASSETS_DAGSTER_POSTGRES_URL" in env  # deploy/cluster/dagster.yaml reads it
    assert worker["envFrom"] == SETTINGS_AND_PASSWORD
    # every pod that reads or writes the lake mounts the same claim where the settings point
    values = _load(DEPLOY / "k8s" / "dagster-values.yaml")
    code = values["dagster-user-deployments"]["deployments"][0]
    runs = values["runLauncher"]["config"]["k8sRunLauncher"]
    service = _load(DEPLOY / "k8s" / "scoring-service.yaml")["spec"]["template"]["spec"]
    pods = {
        "celery workers": mounts,
        "code server": _pod_mounts(code["volumes"], code["volumeMounts"]),
        "run pods": _pod_mounts(runs["volumes"], runs["volumeMounts"]),
        "scoring service": _pod_mounts(service["volumes"], service["containers"][0]["volumeMounts"]),
    }
    for pod, mounted in pods.items():
        assert mounted.get(lake) == claim_name, f"{pod}: the lake claim is not mounted at {lake}"


@pytest.fixture
def service_routes():
    from ml_assets.serving.app import create_app

    return {getattr(r, "path", None) for r in create_app(Settings()).routes}


def test_scoring_deployment_probes_and_scrapes_real_routes(service_routes):
    deployment = _load(DEPLOY / "k8s" / "scoring-service.yaml")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    port = container["ports"][0]["containerPort"]
    args = container["args"]
    assert args[:2] == ["ml-assets", "serve"] and int(args[args.index("--port") + 1]) == port
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and int(annotations["prometheus.io/port"]) == port
    for path in ("/readyz", "/healthz", annotations["prometheus.io/path"]):
        assert path in service_routes, f"{path} is not a route of the service"
    # several replicas judge one rollout only with the shared rollout on (core/rollout/shared.py)
    env = {e["name"]: e["value"] for e in container.get("env", [])}
    if deployment["spec"]["replicas"] > 1:
        assert Settings.model_validate({"rollout_shared": env.get("ML_ASSETS_ROLLOUT_SHARED")}).rollout_shared
    assert container["envFrom"] == SETTINGS_AND_PASSWORD


def test_the_profile_switches_engines_and_executor_not_assets(tmp_path):
    from ml_assets.definitions import build_definitions

    embedded = build_definitions(Settings(data_dir=tmp_path))
    cluster = build_definitions(Settings(data_dir=tmp_path, profile="cluster"))
    keys = lambda defs: sorted(k.to_user_string() for k in defs.resolve_all_asset_keys())  # noqa: E731
    assert keys(embedded) == keys(cluster) and len(keys(cluster)) > 10
    assert embedded.executor.name == "multiprocess" and cluster.executor.name == "celery_cluster"
    resources = cluster.resources
    assert resources["warehouse"].url.startswith("postgresql+psycopg2://") and not resources["warehouse"].path
    assert resources["feast"].registry_url.endswith("_feast") and resources["feast"].redis_connection
    assert resources["mlflow"].tracking_uri.startswith("http://127.0.0.1:")
    assert embedded.resources["mlflow"].tracking_uri.startswith("sqlite:///")


# every pod that reads the settings also gets libpq's password and MLflow's credentials from
# secrets, never in a URL or a config map
SETTINGS_AND_PASSWORD = [
    {"configMapRef": {"name": "ml-assets-cluster"}},
    {"secretRef": {"name": "ml-assets-postgres-env"}},
    {"secretRef": {"name": "ml-assets-mlflow-env"}},
]


def test_the_postgres_password_is_never_in_a_url_and_every_pod_gets_it_from_a_secret():
    with pytest.raises(ValueError, match="(?s)postgres_url.*holds a password.*PGPASSWORD") as refused:
        Settings(postgres_url="postgresql+psycopg2://ml_assets:s3cret@postgres:5432")
    assert "s3cret" not in str(refused.value)  # the error never echoes what it was given
    config = _load(DEPLOY / "k8s" / "ml-assets-config.yaml")["data"]
    assert Settings(postgres_url=config["ML_ASSETS_POSTGRES_URL"]).postgres_url  # the shipped one passes
    values = _load(DEPLOY / "k8s" / "dagster-values.yaml")
    runs = values["runLauncher"]["config"]["k8sRunLauncher"]
    pods = [*values["dagster-user-deployments"]["deployments"], runs]
    secrets = [{"name": "ml-assets-postgres-env"}, {"name": "ml-assets-mlflow-env"}]
    assert all(pod["envSecrets"] == secrets for pod in pods)

"""Static checks of deploy/: Docker cannot run here, so the files are checked
for what would break a deployment: YAML that does not parse, example configs
that `tracegate validate` rejects, and ports, paths and names that do not
match between the example configs and the Kubernetes, compose, systemd and
Docker files that use them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e_helpers import REPO_ROOT, run_tracegate

DEPLOY = REPO_ROOT / "deploy"
EXAMPLES = sorted((DEPLOY / "examples").glob("*.yaml"))


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_all(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def config_ports(config: dict[str, Any]) -> dict[str, int]:
    """The ports an example config listens on: otlp http/grpc, metrics, health."""
    out: dict[str, int] = {}
    for name, receiver in (config.get("receivers") or {}).items():
        for proto, settings in ((receiver or {}).get("protocols") or {}).items():
            out[f"{name}/{proto}"] = port_of(settings["endpoint"])
    telemetry = config["service"].get("telemetry") or {}
    out["metrics"] = port_of((telemetry.get("metrics") or {}).get("address", "0.0.0.0:8888"))
    out["health"] = port_of((telemetry.get("health") or {}).get("address", "0.0.0.0:13133"))
    return out


def env_default(value: str) -> str:
    """`${env:X:-default}` → default (the value a deployment that sets nothing gets)."""
    m = re.fullmatch(r"\$\{env:[A-Za-z0-9_]+:-(.*)\}", value)
    return m.group(1) if m else value


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def container(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def container_ports(c: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in c.get("ports", [])}


def mounted_config(deployment: dict[str, Any], c: dict[str, Any], docs: list[dict[str, Any]]) -> tuple[str, str]:
    """The config path the container runs with, and that file's text from the ConfigMap mounted there."""
    args = c["args"]
    assert args[:2] == ["run", "--config"], args
    path = args[2]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    for mount in c["volumeMounts"]:
        if path.startswith(mount["mountPath"].rstrip("/") + "/"):
            volume = volumes[mount["name"]]
            configmap = next(d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == volume["configMap"]["name"])
            key = path[len(mount["mountPath"].rstrip("/")) + 1:]
            assert key in configmap["data"], f"{path}: no key {key} in ConfigMap {configmap['metadata']['name']}"
            return path, configmap["data"][key]
    pytest.fail(f"{path} is not under any volume mount of container {c['name']}")


# ------------------------------------------------------------------------ all files


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.yaml")), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path):
    assert load_all(path), f"{path} holds no YAML document"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_config_passes_validate(tracegate_bin: str, path: Path):
    result = run_tracegate(tracegate_bin, ["validate", "--config", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_the_expected_deploy_files_exist():
    for name in ["examples/sidecar.yaml", "examples/gateway.yaml", "examples/pipelines.yaml",
                 "kubernetes/sidecar.yaml", "kubernetes/gateway.yaml", "systemd/tracegate.service",
                 "docker/Dockerfile", "docker/compose.yaml", "README.md"]:
        assert (DEPLOY / name).is_file(), name


# ----------------------------------------------------------------------- example configs


def test_sidecar_example_listens_on_localhost_and_forwards_through_a_persistent_queue():
    config = load(DEPLOY / "examples" / "sidecar.yaml")
    for settings in config["receivers"]["otlp"]["protocols"].values():
        assert settings["endpoint"].startswith("127.0.0.1:")
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["processors"] == ["memory_limiter", "batch"]
    assert pipeline["exporters"] == ["otlphttp"]
    queue = config["exporters"]["otlphttp"]["sending_queue"]
    assert queue["persistent"] is True
    assert env_default(queue["directory"]) == "/var/lib/tracegate/queue"
    gateway = load(DEPLOY / "examples" / "gateway.yaml")
    upstream = env_default(config["exporters"]["otlphttp"]["endpoint"])
    assert upstream == f"http://tracegate-gateway:{config_ports(gateway)['otlp/http']}"


def test_gateway_example_stores_in_postgres_and_notifies_conclusions():
    config = load(DEPLOY / "examples" / "gateway.yaml")
    exporters = config["service"]["pipelines"]["traces"]["exporters"]
    assert "postgres" in exporters
    assert any(e.startswith("conclusion") for e in exporters)


def test_pipelines_example_has_several_pipelines_with_routing():
    config = load(DEPLOY / "examples" / "pipelines.yaml")
    assert len(config["service"]["pipelines"]) >= 3
    assert any(p.startswith("routing") for pl in config["service"]["pipelines"].values() for p in pl.get("processors", []))


# --------------------------------------------------------------------------- kubernetes


def test_kubernetes_sidecar_runs_the_example_config_with_probes_ports_and_a_queue_volume():
    docs = load_all(DEPLOY / "kubernetes" / "sidecar.yaml")
    deployment = by_kind(docs, "Deployment")[0]
    sidecar = container(deployment, "tracegate")
    _, text = mounted_config(deployment, sidecar, docs)
    example = (DEPLOY / "examples" / "sidecar.yaml").read_text(encoding="utf-8")
    assert text.rstrip("\n") == example.rstrip("\n"), "the ConfigMap has drifted from deploy/examples/sidecar.yaml"
    config = yaml.safe_load(text)
    ports = config_ports(config)

    assert sidecar["livenessProbe"]["httpGet"] == {"path": "/health", "port": ports["health"]}
    assert sidecar["readinessProbe"]["httpGet"] == {"path": "/ready", "port": ports["health"]}
    assert set(container_ports(sidecar).values()) == {ports["metrics"], ports["health"]}
    assert sidecar["resources"]["limits"]["memory"] and sidecar["resources"]["requests"]["memory"]
    limit_mib = int(sidecar["resources"]["limits"]["memory"].removesuffix("Mi"))
    assert config["processors"]["memory_limiter"]["limit_mib"] < limit_mib

    env = {e["name"]: e.get("value") for e in sidecar["env"]}
    queue_dir = env["TRACEGATE_QUEUE_DIR"]
    assert any(m["mountPath"] == queue_dir for m in sidecar["volumeMounts"]), "the queue directory is not a volume"
    # The application container exports to the sidecar's receiver.
    app = container(deployment, "app")
    app_env = {e["name"]: e.get("value") for e in app["env"]}
    assert app_env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://127.0.0.1:{ports['otlp/http']}"

    gateway_docs = load_all(DEPLOY / "kubernetes" / "gateway.yaml")
    service = by_kind(gateway_docs, "Service")[0]
    upstream = env["TRACEGATE_UPSTREAM"]
    service_ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert upstream == f"http://{service['metadata']['name']}:{service_ports['otlp-http']}"


def test_kubernetes_gateway_service_and_probes_match_the_gateway_config():
    docs = load_all(DEPLOY / "kubernetes" / "gateway.yaml")
    deployment = by_kind(docs, "Deployment")[0]
    gw = container(deployment, "tracegate")
    _, text = mounted_config(deployment, gw, docs)
    example = (DEPLOY / "examples" / "gateway.yaml").read_text(encoding="utf-8")
    assert text.rstrip("\n") == example.rstrip("\n"), "the ConfigMap has drifted from deploy/examples/gateway.yaml"
    ports = config_ports(yaml.safe_load(text))
    named = container_ports(gw)
    assert named == {"otlp-grpc": ports["otlp/grpc"], "otlp-http": ports["otlp/http"],
                     "metrics": ports["metrics"], "health": ports["health"]}
    assert gw["livenessProbe"]["httpGet"] == {"path": "/health", "port": ports["health"]}
    assert gw["readinessProbe"]["httpGet"] == {"path": "/ready", "port": ports["health"]}

    service = by_kind(docs, "Service")[0]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(pod_labels.get(k) == v for k, v in service["spec"]["selector"].items())
    for p in service["spec"]["ports"]:
        assert p["targetPort"] in named, f"Service port {p['name']} targets an unknown container port"
        assert p["port"] == named[p["targetPort"]]
    env = {e["name"] for e in gw["env"]}
    assert {"TRACEGATE_DSN", "TRACEGATE_TOKEN"} <= env


# ------------------------------------------------------------------------------ docker


def test_dockerfile_is_multi_stage_and_exposes_the_gateway_ports():
    text = (DEPLOY / "docker" / "Dockerfile").read_text(encoding="utf-8")
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.MULTILINE)
    assert len(stages) >= 2
    assert "slim" in stages[-1][0], "the runtime stage should be a small image"
    assert re.search(r"^COPY --from=build ", text, re.MULTILINE)
    exposed = {int(p) for line in re.findall(r"^EXPOSE (.+)$", text, re.MULTILINE) for p in line.split()}
    gateway = config_ports(load(DEPLOY / "examples" / "gateway.yaml"))
    sidecar = config_ports(load(DEPLOY / "examples" / "sidecar.yaml"))
    assert set(gateway.values()) <= exposed
    assert {sidecar["metrics"], sidecar["health"]} <= exposed
    for src in re.findall(r"^COPY (?!--from)(\S+)", text, re.MULTILINE):
        assert (REPO_ROOT / src).exists(), f"COPY {src}: no such path in the repository"
    cmd = re.search(r"^CMD (.+)$", text, re.MULTILINE).group(1)
    config_path = yaml.safe_load(cmd)[-1]
    copies = dict((dst, src) for src, dst in re.findall(r"^COPY (deploy/\S+) (\S+)$", text, re.MULTILINE))
    assert config_path in copies


def test_compose_runs_the_gateway_config_against_its_postgres():
    compose = load(DEPLOY / "docker" / "compose.yaml")
    services = compose["services"]
    tg = services["tracegate"]
    context = (DEPLOY / "docker" / tg["build"]["context"]).resolve()
    assert (context / tg["build"]["dockerfile"]).is_file()
    config_path = tg["command"][-1]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in tg["volumes"] if m.startswith(".")}
    source = (DEPLOY / "docker" / mounts[config_path]).resolve()
    assert source == (DEPLOY / "examples" / "gateway.yaml").resolve()
    ports = config_ports(load(source))
    published = {int(p.split(":")[-1]) for p in tg["ports"]}
    assert set(ports.values()) == published
    dsn = dict(kv.split("=", 1) for kv in shlex.split(tg["environment"]["TRACEGATE_DSN"]))
    assert dsn["host"] in services and dsn["host"] == "postgres"
    pg_env = services["postgres"]["environment"]
    assert (dsn["user"], dsn["password"], dsn["dbname"]) == (pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"], pg_env["POSTGRES_DB"])
    assert tg["depends_on"]["postgres"]["condition"] == "service_healthy"


# ----------------------------------------------------------------------------- systemd


def unit_settings(path: Path) -> dict[str, list[str]]:
    """Key → values of a unit file (keys may repeat, as systemd allows)."""
    out: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_systemd_unit_is_hardened_and_keeps_the_queue_in_its_state_directory():
    unit = unit_settings(DEPLOY / "systemd" / "tracegate.service")
    assert unit["DynamicUser"] == ["yes"]
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["CapabilityBoundingSet"] == [""]
    state = unit["StateDirectory"][0]
    env = dict(e.split("=", 1) for e in unit["Environment"])
    assert env["TRACEGATE_QUEUE_DIR"].startswith(f"/var/lib/{state}/")
    # The unit is meant for the sidecar example, whose queue directory defaults to the same place.
    sidecar = load(DEPLOY / "examples" / "sidecar.yaml")
    directory = sidecar["exporters"]["otlphttp"]["sending_queue"]["directory"]
    assert directory.startswith("${env:TRACEGATE_QUEUE_DIR")
    assert env_default(directory) == env["TRACEGATE_QUEUE_DIR"]
    exec_start = shlex.split(unit["ExecStart"][0])
    assert exec_start[1:3] == ["run", "--config"]
    # Stop timeout leaves the drain (shutdown_timeout) time to finish.
    shutdown = sidecar["service"]["telemetry"]["shutdown_timeout"]
    assert int(unit["TimeoutStopSec"][0]) > int(shutdown.removesuffix("s"))

"""deploy/: the kustomize base, the systemd unit, the Dockerfile and the production config."""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kustomize_render import render

from streamer.settings.loader import parse_settings
from streamer.settings.units import parse_duration

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
OVERLAY = REPO / "examples" / "k8s-overlay"
KUBERNETES_VERSION = "1.33.0"
SECRET_FILES = ("leadconduit-api-key", "azure-connection-string")


def load_docs(path: Path) -> list[dict[str, Any]]:
    """Every YAML document of a manifest file."""
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


@cache
def _rendered(root: Path) -> tuple[dict[str, Any], ...]:
    return tuple(render(root))


def manifests(root: Path = DEPLOY) -> dict[str, dict[str, Any]]:
    """kind -> the (single) object of that kind that ``kustomize build root`` outputs."""
    out: dict[str, dict[str, Any]] = {}
    for doc in _rendered(root):
        assert doc["kind"] not in out, f"two {doc['kind']} objects"
        out[doc["kind"]] = doc
    return out


def secret_example() -> dict[str, Any]:
    """deploy/k8s/secret.example.yaml (not part of the base: created out of band)."""
    (secret,) = load_docs(K8S / "secret.example.yaml")
    return secret


def container() -> dict[str, Any]:
    """The Deployment's only container."""
    (only,) = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return only


def unit() -> configparser.ConfigParser:
    """The systemd unit, parsed (duplicate keys joined by newlines, case-preserving)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / "streamer.service")
    return parser


def unit_values(key: str) -> list[str]:
    """Every value of a (repeatable) key of the unit's [Service] section."""
    lines: list[str] = []
    for raw in (DEPLOY / "systemd" / "streamer.service").read_text().splitlines():
        name, sep, value = raw.partition("=")
        if sep and name.strip() == key and not raw.startswith("#"):
            lines.append(value.strip())
    return lines


def test_base_renders_the_expected_kinds() -> None:
    """The kustomize base outputs at least these kinds, each named streamer*."""
    kinds = manifests()
    assert {"ConfigMap", "Deployment", "PersistentVolumeClaim", "Service", "ServiceAccount",
            "NetworkPolicy"} <= set(kinds)
    for doc in kinds.values():
        assert doc["apiVersion"]
        assert doc["metadata"]["name"].startswith("streamer")
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "streamer"


def test_configmap_is_generated_from_deploy_streamer_yaml() -> None:
    """No hand copy: the ConfigMap holds deploy/streamer.yaml byte for byte."""
    kinds = manifests()
    assert not (K8S / "configmap.yaml").exists()
    config_map = kinds["ConfigMap"]
    assert config_map["data"] == {"streamer.yaml": (DEPLOY / "streamer.yaml").read_text()}
    # the content-hash suffix rolls the pod when the config changes
    assert config_map["metadata"]["name"].startswith("streamer-config-")
    volumes = kinds["Deployment"]["spec"]["template"]["spec"]["volumes"]
    assert {"name": config_map["metadata"]["name"]} in [v.get("configMap") for v in volumes]


@pytest.mark.parametrize("root", [DEPLOY, OVERLAY], ids=["base", "example-overlay"])
def test_python_render_matches_kubectl_kustomize(root: Path) -> None:
    """The tests' render (tests/kustomize_render.py) equals `kubectl kustomize` exactly."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    result = subprocess.run(
        [kubectl, "kustomize", str(root)], capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    theirs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(result.stdout)}
    ours = {(d["kind"], d["metadata"]["name"]): d for d in _rendered(root)}
    assert ours == theirs


@pytest.mark.parametrize("root", [DEPLOY, OVERLAY], ids=["base", "example-overlay"])
def test_every_object_is_valid_against_the_kubernetes_schemas(root: Path) -> None:
    """kubernetes-validate (strict: unknown fields fail) accepts every rendered object."""
    objects = [*_rendered(root), secret_example()]
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {exc.path}")


def test_overlay_sets_namespace_image_and_workload_identity() -> None:
    """The example overlay puts everything in its namespace and annotates the ServiceAccount."""
    kinds = manifests(OVERLAY)
    assert kinds["Namespace"]["metadata"]["name"] == "streamer"
    for kind, obj in kinds.items():
        if kind != "Namespace":
            assert obj["metadata"]["namespace"] == "streamer", kind
    annotations = kinds["ServiceAccount"]["metadata"]["annotations"]
    assert "eks.amazonaws.com/role-arn" in annotations
    assert "azure.workload.identity/client-id" in annotations


def test_deployment_is_one_recreated_replica_with_probes() -> None:
    """One replica, Recreate, startup/liveness/readiness probes on the metrics port."""
    kinds = manifests()
    dep = kinds["Deployment"]["spec"]
    assert dep["replicas"] == 1
    assert dep["strategy"]["type"] == "Recreate"
    pod = dep["template"]["spec"]
    ports = {p["name"]: p["containerPort"] for p in container()["ports"]}
    probes = {name: container()[name] for name in ("startupProbe", "livenessProbe",
                                                   "readinessProbe")}
    assert probes["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in probes.values():
        assert probe["httpGet"]["port"] in ("metrics", ports["metrics"])
    startup = probes["startupProbe"]
    # generous: a lease held by a crashed pod (lease_ttl) or a sink outage at start-up
    # must not get the pod killed in a loop
    assert startup["failureThreshold"] * startup["periodSeconds"] >= 300
    config = yaml.safe_load(kinds["ConfigMap"]["data"]["streamer.yaml"])
    assert config["metrics"]["port"] == ports["metrics"]
    assert config["metrics"]["host"] == "0.0.0.0"  # explicit: the code's default is loopback
    grace = parse_duration(config["shutdown"]["grace"])
    assert pod["terminationGracePeriodSeconds"] > grace
    assert kinds["Service"]["spec"]["ports"][0]["port"] == ports["metrics"]


def test_deployment_security_resources_and_volumes() -> None:
    """Non-root, read-only root fs, limits set, state on the PVC, own ServiceAccount."""
    kinds = manifests()
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    sc = container()["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert container()["resources"]["limits"]["memory"]
    assert container()["resources"]["requests"]["memory"]
    mounts = {m["name"]: m["mountPath"] for m in container()["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["config"] == "/etc/streamer"
    assert volumes["config"]["configMap"]["name"] == kinds["ConfigMap"]["metadata"]["name"]
    assert mounts["state"] == "/var/lib/streamer"
    claim = volumes["state"]["persistentVolumeClaim"]["claimName"]
    assert claim == kinds["PersistentVolumeClaim"]["metadata"]["name"]
    assert container()["args"] == ["run", "-c", "/etc/streamer/streamer.yaml"]
    account = kinds["ServiceAccount"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert account["automountServiceAccountToken"] is False
    assert pod["automountServiceAccountToken"] is False


def test_secrets_are_mounted_files_not_environment() -> None:
    """The Secret is a read-only volume; no env var carries a secret; the config reads files."""
    pod = manifests()["Deployment"]["spec"]["template"]["spec"]
    assert "envFrom" not in container()
    for env in container().get("env", []):
        assert "valueFrom" not in env, env["name"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in container()["volumeMounts"]}
    secret = volumes["secrets"]["secret"]
    assert secret["secretName"] == secret_example()["metadata"]["name"]
    assert secret["defaultMode"] & 0o007 == 0  # not world-readable
    assert mounts["secrets"]["readOnly"] is True
    env = {e["name"]: e.get("value") for e in container()["env"]}
    assert env["CREDENTIALS_DIRECTORY"] == mounts["secrets"]["mountPath"]
    text = (DEPLOY / "streamer.yaml").read_text()
    for name in SECRET_FILES:
        assert f"${{CREDENTIALS_DIRECTORY}}/{name}" in text
        assert name in secret_example()["stringData"]


def test_network_policy_admits_monitoring_only_and_egress_https_and_dns() -> None:
    """Ingress: the metrics port from the monitoring namespace; egress: 443 and DNS."""
    kinds = manifests()
    policy = kinds["NetworkPolicy"]["spec"]
    labels = kinds["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": 9108}]
    (source,) = ingress["from"]
    assert source == {"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}}
    egress_ports = {(p["protocol"], p["port"]) for rule in policy["egress"]
                    for p in rule["ports"]}
    assert egress_ports == {("TCP", 443), ("UDP", 53), ("TCP", 53)}


def test_production_config_reads_its_secrets_from_the_credentials_directory(
    tmp_path: Path,
) -> None:
    """deploy/streamer.yaml interpolates ${CREDENTIALS_DIRECTORY} and reads the files."""
    for name in SECRET_FILES:
        (tmp_path / name).write_text(f"secret-{name}\n")
    (tmp_path / "azure-connection-string").write_text(
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=a2V5;"
        "EndpointSuffix=core.windows.net\n"
    )
    raw = yaml.safe_load((DEPLOY / "streamer.yaml").read_text())
    loaded = parse_settings(raw, base=Path(), env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert loaded.settings.source.api_key.get_secret_value() == "secret-leadconduit-api-key"
    assert {s.name for s in loaded.services} == {"aws", "azure"}
    assert loaded.settings.checkpoint.path.startswith("/var/lib/streamer/")
    assert loaded.settings.metrics.port is not None
    assert loaded.settings.shutdown.grace < 45


def test_secret_example_holds_no_real_values() -> None:
    """The example Secret only has placeholders."""
    assert set(secret_example()["stringData"].values()) == {"replace-me"}


def test_systemd_unit_keys() -> None:
    """The unit runs the CLI as a dedicated user, hardened, with a stop timeout above grace."""
    service = unit()["Service"]
    assert service["User"] == "streamer"
    assert service["ExecStart"] == (
        "/opt/streamer/.venv/bin/streamer run -c /etc/streamer/streamer.yaml"
    )
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ReadWritePaths": "/var/lib/streamer",
        "StateDirectory": "streamer",
        "SystemCallFilter": "@system-service",
        "ProtectProc": "invisible",
        "ProcSubset": "pid",
        "RemoveIPC": "yes",
        "PrivateMounts": "yes",
        "UMask": "0077",
        "ExecReload": "/bin/kill -HUP $MAINPID",
    }
    for key, value in expected.items():
        assert service[key] == value, key
    assert parse_duration(service["WatchdogSec"]) >= 30
    config = yaml.safe_load((DEPLOY / "streamer.yaml").read_text())
    grace = parse_duration(config["shutdown"]["grace"])
    assert parse_duration(service["TimeoutStopSec"]) > grace
    assert config["checkpoint"]["path"].startswith(service["ReadWritePaths"])
    assert "2" in service["RestartPreventExitStatus"].split()


def test_systemd_secrets_are_credentials_not_environment() -> None:
    """LoadCredential= provides every file the config reads; no EnvironmentFile= with secrets."""
    assert unit_values("EnvironmentFile") == []
    assert unit_values("Environment") == []
    credentials = dict(v.split(":", 1) for v in unit_values("LoadCredential"))
    assert set(credentials) == set(SECRET_FILES)
    for name, source in credentials.items():
        assert source == f"/etc/streamer/credentials/{name}"


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` accepts the unit (pointed at this checkout's CLI)."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    cli = Path(sys.executable).with_name("streamer")
    if not cli.exists():
        pytest.skip(f"{cli} is not installed (pip install -e .)")
    text = (DEPLOY / "systemd" / "streamer.service").read_text()
    copy = tmp_path / "streamer.service"
    copy.write_text(text.replace("/opt/streamer/.venv/bin/streamer", str(cli)))
    result = subprocess.run(
        [tool, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    if "Failed to" in result.stderr and "bus" in result.stderr.lower():
        pytest.skip(f"systemd-analyze cannot run here: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, result.stderr
    assert "streamer.service" not in result.stderr, result.stderr


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_entrypoint_is_the_cli_and_user_is_not_root() -> None:
    """Digest-pinned slim base, ENTRYPOINT streamer, CMD run -c ..., a non-root USER last."""
    steps = dockerfile()
    bases = [args.split()[0] for word, args in steps if word == "FROM"]
    assert bases
    assert len(set(bases)) == 1  # build and final stage share one base
    for base in bases:
        ref, _, digest = base.partition("@")
        name, _, tag = ref.partition(":")
        assert name == "python"
        assert tag.startswith("3.11.")  # a patch release, not a moving minor tag
        assert "slim" in tag
        assert digest.startswith("sha256:")
        assert len(digest) == len("sha256:") + 64
    entry = [json.loads(args) for word, args in steps if word == "ENTRYPOINT"]
    assert entry == [["streamer"]]
    cmd = [json.loads(args) for word, args in steps if word == "CMD"]
    assert cmd == [["run", "-c", "/etc/streamer/streamer.yaml"]]
    users = [args for word, args in steps if word == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    final_stage = steps[max(i for i, (w, _a) in enumerate(steps) if w == "FROM"):]
    assert any(w == "USER" for w, _a in final_stage)
    scripts = [args for word, args in steps if word == "RUN" and "pip install" in args]
    assert scripts
    assert all("--no-deps" in s for s in scripts)  # nothing resolved outside the lock
    locked = [s for s in scripts if "-r requirements/runtime.lock" in s]
    assert locked
    assert all("--require-hashes" in s for s in locked)
    assert any(s.rstrip().endswith(" .") or " . " in s for s in scripts)


def test_project_script_is_the_cli_the_image_runs() -> None:
    """``streamer`` (the image's ENTRYPOINT) is the project's console script: cli.main."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["streamer"] == "streamer.cli.main:main"


def test_systemd_security_exposure_is_low(tmp_path: Path) -> None:
    """`systemd-analyze security --offline` rates the unit 2.0 or better (it was 3.2)."""
    import re

    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    copy = tmp_path / "streamer.service"
    cli = Path(sys.executable).with_name("streamer")
    text = (DEPLOY / "systemd" / "streamer.service").read_text()
    copy.write_text(text.replace("/opt/streamer/.venv/bin/streamer", str(cli)))
    result = subprocess.run(
        [tool, "security", "--offline=yes", "--no-pager", str(copy)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    if match is None:
        pytest.skip(f"systemd-analyze security --offline is not supported: {result.stderr[:200]}")
    assert float(match.group(1)) <= 2.0, result.stdout

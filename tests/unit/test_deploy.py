"""deploy/: the systemd unit, the Kubernetes manifests, the Dockerfile and the example config."""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamer.config_loader import parse_settings
from streamer.units import parse_duration

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
ENV = {
    "LEADCONDUIT_API_KEY": "k",
    "AWS_ACCESS_KEY_ID": "AKIA",
    "AWS_SECRET_ACCESS_KEY": "s",
    "AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=https;AccountName=a;"
    "AccountKey=a2V5;EndpointSuffix=core.windows.net",
}


def load_docs(path: Path) -> list[dict[str, Any]]:
    """Every YAML document of a manifest file."""
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def manifests() -> dict[str, dict[str, Any]]:
    """kind -> the (single) manifest of that kind under deploy/k8s."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in load_docs(path):
            assert doc["kind"] not in out, f"two {doc['kind']} manifests"
            out[doc["kind"]] = doc
    return out


def unit() -> configparser.ConfigParser:
    """The systemd unit, parsed (duplicate-tolerant, case-preserving)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / "streamer.service")
    return parser


def test_every_manifest_parses_and_has_the_expected_kinds() -> None:
    """Every file in deploy/k8s is YAML with apiVersion, kind and metadata.name."""
    kinds = manifests()
    assert set(kinds) == {"ConfigMap", "Secret", "Deployment", "PersistentVolumeClaim", "Service"}
    for doc in kinds.values():
        assert doc["apiVersion"]
        assert doc["metadata"]["name"].startswith("streamer")


def test_deployment_is_one_recreated_replica_with_probes() -> None:
    """One replica, Recreate, probes on the metrics port, grace above shutdown.grace."""
    kinds = manifests()
    dep = kinds["Deployment"]["spec"]
    assert dep["replicas"] == 1
    assert dep["strategy"]["type"] == "Recreate"
    pod = dep["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] in ("metrics", ports["metrics"])
    config = yaml.safe_load(kinds["ConfigMap"]["data"]["streamer.yaml"])
    assert config["metrics"]["port"] == ports["metrics"]
    grace = parse_duration(config["shutdown"]["grace"])
    assert pod["terminationGracePeriodSeconds"] > grace
    assert kinds["Service"]["spec"]["ports"][0]["port"] == ports["metrics"]


def test_deployment_security_resources_and_volumes() -> None:
    """Non-root, read-only root fs, limits set, secrets by reference, state on the PVC."""
    kinds = manifests()
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["limits"]["memory"]
    assert container["resources"]["requests"]["memory"]
    refs = [e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e]
    assert refs == [kinds["Secret"]["metadata"]["name"]]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["config"] == "/etc/streamer"
    assert volumes["config"]["configMap"]["name"] == kinds["ConfigMap"]["metadata"]["name"]
    assert mounts["state"] == "/var/lib/streamer"
    claim = volumes["state"]["persistentVolumeClaim"]["claimName"]
    assert claim == kinds["PersistentVolumeClaim"]["metadata"]["name"]
    assert container["args"] == ["run", "-c", "/etc/streamer/streamer.yaml"]


@pytest.mark.parametrize("where", ["configmap", "deploy/streamer.yaml"])
def test_shipped_configs_validate(where: str) -> None:
    """The ConfigMap's YAML and deploy/streamer.yaml are valid streamer configs."""
    if where == "configmap":
        text = manifests()["ConfigMap"]["data"]["streamer.yaml"]
    else:
        text = (DEPLOY / "streamer.yaml").read_text()
    loaded = parse_settings(yaml.safe_load(text), base=Path(), env=ENV)
    assert {s.name for s in loaded.services} == {"aws", "azure"}
    assert loaded.settings.checkpoint.path.startswith("/var/lib/streamer/")
    assert loaded.settings.metrics.port is not None
    assert loaded.settings.shutdown.grace < 45


def test_secret_example_holds_no_real_values() -> None:
    """The example Secret only has placeholders, and names every variable the config uses."""
    secret = manifests()["Secret"]
    assert set(secret["stringData"].values()) == {"replace-me"}
    config = manifests()["ConfigMap"]["data"]["streamer.yaml"]
    for name in secret["stringData"]:
        assert f"${{{name}" in config


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
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ReadWritePaths": "/var/lib/streamer",
        "StateDirectory": "streamer",
        "EnvironmentFile": "-/etc/streamer/streamer.env",
    }
    for key, value in expected.items():
        assert service[key] == value, key
    config = yaml.safe_load((DEPLOY / "streamer.yaml").read_text())
    grace = parse_duration(config["shutdown"]["grace"])
    assert parse_duration(service["TimeoutStopSec"]) > grace
    assert config["checkpoint"]["path"].startswith(service["ReadWritePaths"])
    assert "2" in service["RestartPreventExitStatus"].split()


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
    assert project["project"]["scripts"]["streamer"] == "streamer.cli:main"

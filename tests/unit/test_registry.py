"""The service registry: every per-service fact comes from one entry (issue 15 item 3)."""

from __future__ import annotations

import json
import subprocess
import sys
import typing

from pydantic import BaseModel

from streamer.settings.model import CheckpointSettings, Credential, ServicesSettings
from streamer.sinks import registry


def test_every_entry_names_importable_parts() -> None:
    """Each dotted path of each entry resolves (a typo would fail only when enabled)."""
    for entry in registry.SERVICES.values():
        assert callable(registry.load(entry.sink)), entry.name
        assert issubclass(registry.load(entry.settings), BaseModel), entry.name
        if entry.credential is not None:
            model = registry.load(entry.credential)
            assert typing.get_args(model.model_fields["service"].annotation) == (entry.name,)
        if entry.store is not None:
            assert entry.checkpoint is not None
            assert callable(registry.load(entry.checkpoint)), entry.name


def test_the_settings_model_follows_the_registry() -> None:
    """firehose.services, the credential kinds and checkpoint.store list the entries."""
    assert tuple(ServicesSettings.model_fields) == registry.names()
    union = typing.get_args(typing.get_args(Credential)[0])
    kinds = [m.model_fields["service"].annotation for m in union]
    assert [typing.get_args(k)[0] for k in kinds] == [
        e.name for e in registry.SERVICES.values() if e.credential
    ]
    stores = typing.get_args(CheckpointSettings.model_fields["store"].annotation)
    assert stores == ("file", "s3", "azure", "memory")


def test_lookups() -> None:
    """The legacy firehose means aws; checkpoint stores map back to their service."""
    assert registry.legacy().name == "aws"
    assert registry.by_store("azure") is registry.SERVICES["azure"]
    assert registry.by_store("file") is None
    assert registry.preference() == ("local", "aws", "azure")
    assert [e.name for e in registry.bucketed()] == ["aws", "azure"]


# A service added by one entry, in a fresh interpreter (the settings model is built from
# the registry when it is first imported): config, resolution, sink, routing and CLI
# choices all know it without any other edit.
NEW_SERVICE = """
import json, sys
from streamer.sinks import registry
from streamer.sinks.memory import MemorySink

def make(service, *, name=None):
    return MemorySink(name or service.name)

registry.SERVICES["mem"] = registry.ServiceEntry(
    name="mem", sink="__main__:make", settings="streamer.settings.sections:ServiceSettings",
)
from streamer.cli.main import build_parser
from streamer.pipeline.routing import ROUTABLE
from streamer.settings.loader import parse_settings
from streamer.sinks.factory import build_sink
from pathlib import Path

raw = {"source": {"api_key": "k"}, "firehose": {"services": {"mem": {"bucket": "b"}}}}
loaded = parse_settings(raw, base=Path())
sink = build_sink(loaded.services[0])
verify = build_parser("verify").parse_args(["verify", "-c", "x.yaml", "--service", "mem"])
print(json.dumps({
    "resolved": [s.label for s in loaded.services],
    "sink": type(sink).__name__,
    "routable": list(ROUTABLE),
    "verify": verify.service,
}))
"""


def test_a_new_service_is_one_registry_entry() -> None:
    """Registering ``mem`` is enough for a config to enable and write to it."""
    proc = subprocess.run(
        [sys.executable, "-c", NEW_SERVICE], capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {
        "resolved": ["mem (bucket=b)"],
        "sink": "MemorySink",
        "routable": ["aws", "azure", "mem"],
        "verify": "mem",
    }

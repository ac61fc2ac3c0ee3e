"""firehose.route: event — each event goes where its own firehose object says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from streamer.pipeline.routing import EventRouter
from streamer.settings.loader import LoadedConfig, parse_settings
from streamer.settings.model import AwsCredential, AzureCredential

CREDS = {
    "aws-main": {"service": "aws", "access_key_id": "AK", "secret_access_key": "s3cr3t"},
    "aws-2": {"service": "aws", "region": "eu-west-1"},
    "azure-main": {"service": "azure", "connection_string": "AccountName=a;AccountKey=k=="},
}


def loaded(firehose: dict[str, Any] | None = None) -> LoadedConfig:
    """A route: event config; static services as given."""
    raw = {
        "source": {"api_key": "key-key"},
        "credentials": CREDS,
        "firehose": {"route": "event", **(firehose or {})},
    }
    return parse_settings(raw, base=Path(), env={})


def router(firehose: dict[str, Any] | None = None) -> EventRouter:
    """An EventRouter over ``loaded(firehose)``."""
    return EventRouter(loaded(firehose), {})


def event(fh: object) -> dict[str, Any]:
    """An event carrying ``fh`` as its firehose object."""
    return {"id": "5fd4371e940df5a34a3888b2", "firehose": fh}


def test_services_map_to_targets() -> None:
    """Each enabled service in the event's firehose becomes a (sink, prefix) target."""
    r = router()
    fh = {
        "enabled": True,
        "credential_id": "aws-main",
        "bucket": "b1",
        "prefix": "/lc/",
        "services": {
            "aws": {"enabled": True},
            "azure": {
                "enabled": True,
                "credential_id": "azure-main",
                "bucket": "c1",
                "prefix": "z",
            },
        },
    }
    assert r(event(fh)) == (("aws:b1:aws-main", "lc"), ("azure:c1:azure-main", "z"))
    svc = r.services["aws:b1:aws-main"]
    assert (svc.name, svc.bucket, svc.credential_id) == ("aws", "b1", "aws-main")
    assert isinstance(svc.credential, AwsCredential)
    assert isinstance(r.services["azure:c1:azure-main"].credential, AzureCredential)


@pytest.mark.parametrize(
    "fh",
    [
        None,
        "yes",
        {},
        {"enabled": False, "bucket": "b", "credential_id": "aws-main"},
        {"enabled": False, "bucket": "b", "services": {"aws": {"credential_id": "aws-main"}}},
    ],
)
def test_disabled_or_missing_firehose_goes_nowhere(fh: object) -> None:
    """No firehose, or a disabled one, routes to no target."""
    r = router()
    assert r(event(fh)) == ()
    assert r.services == {}


def test_legacy_form_is_aws() -> None:
    """A firehose without services writes to S3 with its top-level fields."""
    r = router()
    fh = {"enabled": True, "credential_id": "aws-2", "bucket": "legacy", "prefix": "p/q"}
    assert r(event(fh)) == (("aws:legacy:aws-2", "p/q"),)


def test_service_disabled_individually() -> None:
    """services.azure.enabled: false leaves only aws."""
    r = router()
    fh = {
        "enabled": True,
        "credential_id": "aws-main",
        "bucket": "b",
        "services": {"aws": {}, "azure": {"enabled": False, "credential_id": "azure-main"}},
    }
    assert r(event(fh)) == (("aws:b:aws-main", ""),)


def test_service_without_bucket_is_skipped() -> None:
    """A service with no bucket anywhere is not a target."""
    r = router()
    fh = {"enabled": True, "credential_id": "aws-main", "services": {"aws": {}}}
    assert r(event(fh)) == ()


def test_unknown_credential_falls_back_to_static_service() -> None:
    """A LeadConduit credential id unknown here uses the static service's credential."""
    r = router({"bucket": "static-b", "credential_id": "aws-2", "services": {"aws": {}}})
    fh = {"enabled": True, "credential_id": "lc-cred-123", "bucket": "evb"}
    assert r(event(fh)) == (("aws:evb:aws-2", ""),)
    svc = r.services["aws:evb:aws-2"]
    assert svc.credential_id == "aws-2"
    assert isinstance(svc.credential, AwsCredential)
    assert svc.credential.region == "eu-west-1"


def test_credential_of_other_service_falls_back() -> None:
    """An azure credential id under services.aws is not used for S3."""
    r = router({"bucket": "s", "credential_id": "aws-main", "services": {"aws": {}}})
    fh = {"enabled": True, "bucket": "b", "services": {"aws": {"credential_id": "azure-main"}}}
    assert r(event(fh)) == (("aws:b:aws-main", ""),)


def test_unknown_credential_without_static_service_is_skipped_and_warned_once() -> None:
    """With nothing to fall back on, the service is skipped and one warning is logged."""
    r = router()
    fh = {"enabled": True, "credential_id": "lc-unknown", "bucket": "b"}
    with capture_logs() as logs:
        assert r(event(fh)) == ()
        assert r(event(fh)) == ()
    warnings = [e for e in logs if e["event"] == "routing.credential_unknown"]
    assert len(warnings) == 1
    assert warnings[0]["credential_id"] == "lc-unknown"
    assert warnings[0]["service"] == "aws"


def test_same_destination_registers_one_service() -> None:
    """Events to the same bucket and credential share one sink name."""
    r = router()
    fh = {"enabled": True, "credential_id": "aws-main", "bucket": "b"}
    first = r(event(fh))
    second = r(event({**fh, "prefix": "other"}))
    assert first[0][0] == second[0][0]
    assert len(r.services) == 1


def test_services_inherit_enabled_from_top_level() -> None:
    """A service without enabled follows the top level's enabled."""
    r = router()
    fh = {
        "enabled": True,
        "bucket": "b",
        "services": {
            "aws": {"credential_id": "aws-main"},
            "azure": {"credential_id": "azure-main"},
        },
    }
    assert [t[0] for t in r(event(fh))] == ["aws:b:aws-main", "azure:b:azure-main"]

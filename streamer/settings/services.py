"""Resolve ``firehose`` into the concrete services to write to.

LeadConduit's firehose object has top-level ``enabled/credential_id/bucket/prefix`` and
``services.aws`` / ``services.azure`` that inherit whatever they leave out. Without a
``services`` map the legacy form means S3 only, as it did in LeadConduit before Azure.
Which services exist, which inherit a bucket and which need a credential comes from
:mod:`streamer.sinks.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamer.settings.credentials import CredentialModel
from streamer.settings.model import FirehoseSettings, Settings
from streamer.settings.sections import LocalServiceSettings, ServiceSettings
from streamer.sinks import registry


@dataclass(frozen=True, slots=True)
class ResolvedService:
    """One enabled service with its inherited fields filled in."""

    name: str
    bucket: str
    prefix: str
    credential_id: str | None
    credential: CredentialModel | None
    options: ServiceSettings | LocalServiceSettings

    @property
    def label(self) -> str:
        """How messages name this service: never a secret, always the bucket."""
        cred = f" credential_id={self.credential_id}" if self.credential_id else ""
        entry = registry.SERVICES.get(self.name)
        where = "path" if entry is not None and not entry.bucketed else "bucket"
        return f"{self.name} ({where}={self.bucket}{cred})"


def resolve_services(settings: Settings) -> tuple[list[ResolvedService], list[str]]:
    """The enabled services and the problems found (YAML path: what to do)."""
    fh = settings.firehose
    problems: list[str] = []
    resolved: list[ResolvedService] = []
    for name, svc in _configured(fh).items():
        path = f"firehose.services.{name}" if fh.services is not None else "firehose"
        service = _resolve_bucketed(settings, name, svc, path, problems)
        if service is not None:
            resolved.append(service)
    for entry in registry.SERVICES.values():
        local = getattr(fh.services, entry.name, None) if not entry.bucketed else None
        if isinstance(local, LocalServiceSettings) and local.enabled:
            prefix = (local.prefix if local.prefix is not None else fh.prefix).strip("/")
            resolved.append(ResolvedService(entry.name, local.path, prefix, None, None, local))
    if not resolved and not problems and fh.route == "static":
        listed = ", ".join(f"services.{name}" for name in registry.names())
        problems.append(f"firehose: no service is enabled; enable {_or(listed)}")
    problems.extend(_checkpoint_problems(settings))
    return resolved, problems


def _or(listed: str) -> str:
    """``a, b, c`` as ``a, b or c``."""
    head, _, last = listed.rpartition(", ")
    return f"{head} or {last}" if head else last


def _configured(fh: FirehoseSettings) -> dict[str, ServiceSettings]:
    """The bucketed services written in the config (the legacy form: the first one)."""
    if fh.services is None:
        legacy = registry.legacy().name
        return {legacy: ServiceSettings()} if fh.bucket or fh.credential_id else {}
    found = {e.name: getattr(fh.services, e.name) for e in registry.bucketed()}
    return {name: svc for name, svc in found.items() if svc is not None}


def _resolve_bucketed(
    settings: Settings, name: str, svc: ServiceSettings, path: str, problems: list[str]
) -> ResolvedService | None:
    """``svc`` with the firehose's fields inherited, or None when disabled or unusable."""
    fh = settings.firehose
    if not (fh.enabled if svc.enabled is None else svc.enabled):
        return None
    bucket = svc.bucket or fh.bucket
    cred_id = svc.credential_id or fh.credential_id
    prefix = (svc.prefix if svc.prefix is not None else fh.prefix).strip("/")
    if not bucket:
        problems.append(
            f"{path}.bucket: required when {name} is enabled; set it here or at firehose.bucket"
        )
    credential = _credential(settings, name, cred_id, path, problems)
    if not bucket:
        return None
    return ResolvedService(name, bucket, prefix, cred_id, credential, svc)


def _credential(
    settings: Settings, name: str, cred_id: str | None, path: str, problems: list[str]
) -> CredentialModel | None:
    """The credential ``cred_id`` names for service ``name``; problems when it cannot."""
    if cred_id is None:
        needs = registry.entry(name).needs_credential
        if needs:
            problems.append(f"{path}.credential_id: {name} needs a credential ({needs})")
        return None
    credential = settings.credentials.get(cred_id)
    if credential is None:
        known = ", ".join(sorted(settings.credentials)) or "none defined"
        problems.append(
            f"{path}.credential_id: unknown credential_id {cred_id!r}; "
            f"define it under credentials (known: {known})"
        )
    elif credential.service != name:
        problems.append(
            f"{path}.credential_id: credential {cred_id!r} is for {credential.service}, "
            f"not {name}"
        )
        return None
    elif (problem := credential.problem()) is not None:
        problems.append(f"credentials.{cred_id}: {problem}")
    return credential


def _checkpoint_problems(settings: Settings) -> list[str]:
    """What is missing for a checkpoint kept in a service's bucket."""
    ck = settings.checkpoint
    entry = registry.by_store(ck.store)
    if entry is None:
        return []
    problems = []
    if not ck.bucket:
        problems.append(f"checkpoint.bucket: required when checkpoint.store is {ck.store}")
    if ck.credential_id is not None:
        cred = settings.credentials.get(ck.credential_id)
        if cred is None:
            problems.append(
                f"checkpoint.credential_id: unknown credential_id {ck.credential_id!r}; "
                "define it under credentials"
            )
        elif cred.service != entry.name:
            problems.append(
                f"checkpoint.credential_id: credential {ck.credential_id!r} is for "
                f"{cred.service}, not {entry.name}"
            )
    elif entry.needs_credential:
        problems.append(f"checkpoint.credential_id: required when checkpoint.store is {ck.store}")
    return problems

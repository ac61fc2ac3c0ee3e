"""Resolve ``firehose`` into the concrete services to write to.

LeadConduit's firehose object has top-level ``enabled/credential_id/bucket/prefix`` and
``services.aws`` / ``services.azure`` that inherit whatever they leave out. Without a
``services`` map the legacy form means S3 only, as it did in LeadConduit before Azure.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamer.settings.model import (
    AwsCredential,
    AzureCredential,
    LocalServiceSettings,
    ServiceSettings,
    Settings,
)


@dataclass(frozen=True, slots=True)
class ResolvedService:
    """One enabled service with its inherited fields filled in."""

    name: str
    bucket: str
    prefix: str
    credential_id: str | None
    credential: AwsCredential | AzureCredential | None
    options: ServiceSettings | LocalServiceSettings

    @property
    def label(self) -> str:
        """How messages name this service: never a secret, always the bucket."""
        cred = f" credential_id={self.credential_id}" if self.credential_id else ""
        where = "path" if self.name == "local" else "bucket"
        return f"{self.name} ({where}={self.bucket}{cred})"


def resolve_services(settings: Settings) -> tuple[list[ResolvedService], list[str]]:
    """The enabled services and the problems found (YAML path: what to do)."""
    fh = settings.firehose
    problems: list[str] = []
    resolved: list[ResolvedService] = []
    services = fh.services
    cloud: dict[str, ServiceSettings] = {}
    if services is None:
        if fh.bucket or fh.credential_id:
            cloud["aws"] = ServiceSettings()
    else:
        for name in ("aws", "azure"):
            svc = getattr(services, name)
            if svc is not None:
                cloud[name] = svc
    for name, svc in cloud.items():
        path = f"firehose.services.{name}" if services is not None else "firehose"
        enabled = fh.enabled if svc.enabled is None else svc.enabled
        if not enabled:
            continue
        bucket = svc.bucket or fh.bucket
        cred_id = svc.credential_id or fh.credential_id
        prefix = (svc.prefix if svc.prefix is not None else fh.prefix).strip("/")
        credential: AwsCredential | AzureCredential | None = None
        if not bucket:
            problems.append(
                f"{path}.bucket: required when {name} is enabled; set it here or at firehose.bucket"
            )
        if cred_id is not None:
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
                credential = None
            elif isinstance(credential, AzureCredential) and not credential.usable:
                problems.append(
                    f"credentials.{cred_id}: set connection_string (or account_url for managed "
                    "identity); it is empty"
                )
        elif name == "azure":
            problems.append(
                f"{path}.credential_id: azure needs a credential (connection_string or account_url)"
            )
        if bucket:
            resolved.append(ResolvedService(name, bucket, prefix, cred_id, credential, svc))
    local = services.local if services is not None else None
    if local is not None and local.enabled:
        prefix = (local.prefix if local.prefix is not None else fh.prefix).strip("/")
        resolved.append(ResolvedService("local", local.path, prefix, None, None, local))
    if not resolved and not problems and fh.route == "static":
        problems.append(
            "firehose: no service is enabled; enable services.aws, services.azure or services.local"
        )
    ck = settings.checkpoint
    if ck.store in ("s3", "azure"):
        if not ck.bucket:
            problems.append(f"checkpoint.bucket: required when checkpoint.store is {ck.store}")
        want = "aws" if ck.store == "s3" else "azure"
        if ck.credential_id is not None:
            cred = settings.credentials.get(ck.credential_id)
            if cred is None:
                problems.append(
                    f"checkpoint.credential_id: unknown credential_id {ck.credential_id!r}; "
                    "define it under credentials"
                )
            elif cred.service != want:
                problems.append(
                    f"checkpoint.credential_id: credential {ck.credential_id!r} is for "
                    f"{cred.service}, not {want}"
                )
        elif want == "azure":
            problems.append("checkpoint.credential_id: required when checkpoint.store is azure")
    return resolved, problems

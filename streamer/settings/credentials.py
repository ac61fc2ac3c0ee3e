"""``credentials``: one model per service kind, tagged by ``service`` (aws, azure, ...).

Kept apart from the sink modules so that validating a config never imports a cloud SDK;
:mod:`streamer.sinks.registry` names each service's model here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, model_validator

from streamer.settings.sections import Model


class CredentialModel(Model):
    """What every ``credentials`` entry has: the service it is for (the union's tag)."""

    service: str

    def problem(self) -> str | None:
        """What makes this credential unusable, checked only where it is used (None: ok)."""
        return None


class AwsCredential(CredentialModel):
    """An AWS access key pair, or nothing at all for the default credential chain."""

    service: Literal["aws"]
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    profile: str | None = None
    region: str = "us-east-1"
    endpoint_url: str | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"

    @model_validator(mode="after")
    def _pair(self) -> AwsCredential:
        if bool(self.access_key_id) != bool(self.secret_access_key):
            raise ValueError("access_key_id and secret_access_key go together: set both or neither")
        return self


class AzureCredential(CredentialModel):
    """A connection string, or an account URL for DefaultAzureCredential."""

    service: Literal["azure"]
    connection_string: SecretStr | None = None
    account_url: str | None = None

    @property
    def usable(self) -> bool:
        """Whether it names an account at all (checked only where it is used)."""
        return bool(self.account_url) or bool(
            self.connection_string and self.connection_string.get_secret_value()
        )

    def problem(self) -> str | None:
        """An entry naming no account at all."""
        if self.usable:
            return None
        return "set connection_string (or account_url for managed identity); it is empty"

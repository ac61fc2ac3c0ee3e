"""The fixed world the simulator's events live in: one account, a few flows and their steps.

Kept as data, separate from the generator, so the generator stays a small loop and the
shapes (module ids, rule sets, firehose config) read like a LeadConduit export.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ACCOUNT",
    "CITIES",
    "EMAIL_DOMAINS",
    "FIRST_NAMES",
    "FLOWS",
    "LAST_NAMES",
    "Flow",
    "Source",
    "Step",
]

StepKind = Literal["enhance", "filter", "deliver"]

ACCOUNT: dict[str, Any] = {"id": "5a1f0c3e8b2d4f0012ab34cd", "name": "Acme Lead Exchange"}

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Carlos", "Maria", "Wei", "Aisha", "Dmitri", "Priya",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Nguyen", "Patel", "Kim",
)  # fmt: skip
# (domain, host, tld, is_free)
EMAIL_DOMAINS = (
    ("gmail.com", "gmail", "com", True),
    ("yahoo.com", "yahoo", "com", True),
    ("hotmail.com", "hotmail", "com", True),
    ("outlook.com", "outlook", "com", True),
    ("comcast.net", "comcast", "net", False),
    ("example.org", "example", "org", False),
)
# (city, state abbreviation, state name, zip prefix, area code)
CITIES = (
    ("Austin", "TX", "Texas", "787", "512"),
    ("Houston", "TX", "Texas", "770", "713"),
    ("Denver", "CO", "Colorado", "802", "303"),
    ("Phoenix", "AZ", "Arizona", "850", "602"),
    ("Atlanta", "GA", "Georgia", "303", "404"),
    ("Miami", "FL", "Florida", "331", "305"),
    ("Columbus", "OH", "Ohio", "432", "614"),
    ("Seattle", "WA", "Washington", "981", "206"),
)


@dataclass(frozen=True)
class Step:
    """One flow step. `key` is where an enhancement appends its data in `vars`."""

    id: str
    kind: StepKind
    name: str
    module_id: str
    key: str
    rule_set: dict[str, Any]
    price: float = 0.0
    skip_rate: float = 0.0


@dataclass(frozen=True)
class Source:
    """A lead source posting into a flow, with the per-lead price it is paid."""

    id: str
    name: str
    cost: float


@dataclass(frozen=True)
class Flow:
    """A flow: its sources, its ordered steps and the firehose config copied onto events."""

    id: str
    name: str
    sources: tuple[Source, ...]
    steps: tuple[Step, ...]
    firehose: dict[str, Any] = field(hash=False)


def _rule(lhv: str, op: str, rhv: Any, rule_id: str) -> dict[str, Any]:
    return {"lhv": lhv, "op": op, "rhv": rhv, "id": rule_id}


def _firehose(aws_cred: str, azure_cred: str, bucket: str, prefix: str) -> dict[str, Any]:
    """The flow's firehose object exactly as LeadConduit copies it onto every event."""
    return {
        "enabled": True,
        "credential_id": aws_cred,
        "bucket": bucket,
        "prefix": prefix,
        "services": {
            "aws": {
                "enabled": True,
                "credential_id": aws_cred,
                "bucket": bucket,
                "prefix": prefix,
            },
            "azure": {
                "enabled": True,
                "credential_id": azure_cred,
                "bucket": bucket,
                "prefix": prefix,
            },
        },
    }


_ALWAYS: dict[str, Any] = {"op": "and", "rules": []}
_TRUSTEDFORM = Step(
    "5c8a9b1e2f3d4a0011aa0001", "enhance", "TrustedForm Consent",
    "leadconduit-trustedform.outbound.consent", "trustedform", _ALWAYS, price=0.05,
)  # fmt: skip
_BRITEVERIFY = Step(
    "5c8a9b1e2f3d4a0011aa0002", "enhance", "BriteVerify Email",
    "leadconduit-briteverify.outbound.email", "briteverify", _ALWAYS, price=0.01,
)  # fmt: skip
_SUPPRESSION = Step(
    "5c8a9b1e2f3d4a0011aa0003", "enhance", "SuppressionList Query",
    "leadconduit-suppressionlist.outbound.query_item", "suppressionlist", _ALWAYS,
)  # fmt: skip


def _filter(step_id: str, name: str, key: str, lhv: str, rhv: Any) -> Step:
    rules = {"op": "or", "rules": [_rule(lhv, "is not equal to", rhv, step_id[-6:])]}
    return Step(step_id, "filter", name, "leadconduit-filter", key, rules)


def _buyer(step_id: str, name: str, key: str, price: float, states: list[str]) -> Step:
    rules = {"op": "and", "rules": [_rule("lead.state", "is included in", states, step_id[-6:])]}
    return Step(
        step_id, "deliver", name, "leadconduit-custom.outbound.json", key, rules,
        price=price, skip_rate=0.25,
    )  # fmt: skip


FLOWS: tuple[Flow, ...] = (
    Flow(
        "5d0e1f2a3b4c5d0012bb0001",
        "Auto Insurance - Web",
        (
            Source("5d0e1f2a3b4c5d0012cc0001", "Google Ads Landing Page", 4.5),
            Source("5d0e1f2a3b4c5d0012cc0002", "Partner: QuoteWizard", 7.0),
        ),
        (
            _TRUSTEDFORM,
            _filter(
                "5d0e1f2a3b4c5d0012dd0001",
                "Require TrustedForm",
                "filter_tf",
                "trustedform.outcome",
                "success",
            ),
            _BRITEVERIFY,
            _buyer(
                "5d0e1f2a3b4c5d0012dd0002",
                "Buyer: Summit Insurance",
                "summit",
                22.0,
                ["TX", "CO", "AZ", "GA"],
            ),
            _buyer(
                "5d0e1f2a3b4c5d0012dd0003",
                "Buyer: Zenith Mutual",
                "zenith",
                18.5,
                ["FL", "OH", "WA", "TX"],
            ),
        ),
        _firehose("61aa00000000000000000a01", "61aa00000000000000000b01", "lc-events", "auto/web"),
    ),
    Flow(
        "5d0e1f2a3b4c5d0012bb0002",
        "Mortgage Refinance",
        (Source("5d0e1f2a3b4c5d0012cc0003", "Facebook Lead Ads", 12.0),),
        (
            _SUPPRESSION,
            _filter(
                "5d0e1f2a3b4c5d0012dd0004",
                "Drop suppressed",
                "filter_dnc",
                "suppressionlist.outcome",
                "success",
            ),
            _buyer(
                "5d0e1f2a3b4c5d0012dd0005",
                "Buyer: Harbor Lending",
                "harbor",
                45.0,
                ["TX", "FL", "GA", "OH"],
            ),
            _buyer(
                "5d0e1f2a3b4c5d0012dd0006",
                "Buyer: Keystone Mortgage",
                "keystone",
                38.0,
                ["CO", "AZ", "WA", "FL"],
            ),
        ),
        _firehose("61aa00000000000000000a02", "61aa00000000000000000b02", "lc-events", "mortgage"),
    ),
    Flow(
        "5d0e1f2a3b4c5d0012bb0003",
        "Solar Installs",
        (Source("5d0e1f2a3b4c5d0012cc0004", "Organic Web Form", 2.0),),
        (
            _TRUSTEDFORM,
            _filter(
                "5d0e1f2a3b4c5d0012dd0007",
                "Homeowners only",
                "filter_home",
                "trustedform.outcome",
                "success",
            ),
            _buyer(
                "5d0e1f2a3b4c5d0012dd0008",
                "Buyer: SunPeak Solar",
                "sunpeak",
                30.0,
                ["AZ", "TX", "FL", "CO"],
            ),
        ),
        _firehose("61aa00000000000000000a03", "61aa00000000000000000b03", "lc-events", "solar"),
    ),
)

"""Typed lead fields, shaped like LeadConduit stores them.

LeadConduit parses each field with its type and stores it as `{normal, raw, <components>,
valid}`; plain strings stay strings. Rules and transforms in the daemon have to handle both
forms (and invalid values), so the simulator emits both.
"""

from __future__ import annotations

import random
from typing import Any

from streamer.simulator.catalog import CITIES, EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES

__all__ = ["make_lead"]

_STREETS = ("Main St", "Oak Ave", "Cedar Ln", "Maple Dr", "Lakeview Blvd", "2nd St")


def make_lead(rng: random.Random, lead_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return `(vars.lead, raw_form)`: the stored typed fields and the body the source posted.

    About one lead in twenty carries an invalid phone, and one in ten an invalid email, so
    `format is valid` rules have something to reject. The random draws happen in a fixed
    order (a seed must keep yielding the same leads), which is why the helpers take their
    already-drawn values as arguments.
    """
    first = rng.choice(FIRST_NAMES)
    last = rng.choice(LAST_NAMES)
    city, state, state_name, zip3, area = rng.choice(CITIES)
    domain, host, tld, is_free = rng.choice(EMAIL_DOMAINS)
    user = f"{first}.{last}{rng.randrange(100)}".lower()
    exchange = f"{rng.randrange(200, 1000):03d}"
    line = f"{rng.randrange(10000):04d}"
    zip5 = f"{zip3}{rng.randrange(100):02d}"
    year = rng.randrange(1950, 2004)
    month = rng.randrange(1, 13)
    day = rng.randrange(1, 29)
    ssn = f"{rng.randrange(100, 900):03d}{rng.randrange(1, 100):02d}{rng.randrange(1, 10000):04d}"
    amount = rng.randrange(80, 900) * 1000
    address = f"{rng.randrange(100, 9999)} {rng.choice(_STREETS)}"
    email = _email(rng, user, domain, host, tld, is_free)
    phone = _phone(rng, area, exchange, line)
    raw_dob = f"{month:02d}/{day:02d}/{year}"
    lead: dict[str, Any] = {
        "id": lead_id,
        "first_name": first,
        "last_name": {"normal": last, "raw": last, "valid": True},
        "email": email,
        "phone_1": phone,
        "address_1": address,
        "city": city,
        "state": {"normal": state, "raw": state_name, "name": state_name, "valid": True},
        "postal_code": _postal_code(zip5),
        "dob": _dob(year, month, day, raw_dob),
        "ssn": _ssn(ssn),
        "mortgage": {"loan": {"amount": amount}},
    }
    form = {
        "first_name": first,
        "last_name": last,
        "email": email["raw"],
        "phone_1": phone["raw"],
        "address_1": address,
        "city": city,
        "state": state_name,
        "postal_code": zip5,
        "dob": raw_dob,
        "ssn": lead["ssn"]["raw"],
        "mortgage.loan.amount": str(amount),
    }
    return lead, form


def _email(
    rng: random.Random, user: str, domain: str, host: str, tld: str, is_free: bool
) -> dict[str, Any]:
    """The typed email field; one in ten is invalid (and then has no components)."""
    raw_email = f"{user}@{domain}"
    if rng.random() < 0.1:
        email: dict[str, Any] = {"normal": raw_email.replace("@", " at "), "valid": False}
        email["raw"] = email["normal"]
        return email
    return {
        "normal": raw_email,
        "raw": raw_email if rng.random() < 0.7 else raw_email.upper(),
        "user": user,
        "domain": domain,
        "host": host,
        "tld": tld,
        "is_free": is_free,
        "is_disposable": False,
        "valid": True,
    }


def _phone(rng: random.Random, area: str, exchange: str, line: str) -> dict[str, Any]:
    """The typed phone field; one in twenty is invalid."""
    if rng.random() < 0.05:
        return {"normal": "do not call", "raw": "do not call", "valid": False}
    return {
        "normal": f"{area}{exchange}{line}",
        "raw": f"({area}) {exchange}-{line}",
        "area": area,
        "exchange": exchange,
        "line": line,
        "number": f"{exchange}{line}",
        "country_code": "US",
        "type": rng.choice(("mobile", "landline", None)),
        "is_tollfree": False,
        "valid": True,
    }


def _postal_code(zip5: str) -> dict[str, Any]:
    """The typed postal code of a five-digit US zip."""
    return {
        "normal": zip5,
        "raw": zip5,
        "country_code": "US",
        "zip": zip5,
        "four": None,
        "valid": True,
    }


def _dob(year: int, month: int, day: int, raw_dob: str) -> dict[str, Any]:
    """The typed date of birth (ages as of 2026, like the fixtures they imitate)."""
    return {
        "normal": f"{year}-{month:02d}-{day:02d}T00:00:00.000Z",
        "raw": raw_dob,
        "age": 2026 - year,
        "year": year,
        "valid": True,
    }


def _ssn(ssn: str) -> dict[str, Any]:
    """The typed social security number of nine digits."""
    return {
        "normal": ssn,
        "raw": f"{ssn[:3]}-{ssn[3:5]}-{ssn[5:]}",
        "first_three": ssn[:3],
        "middle_two": ssn[3:5],
        "last_four": ssn[5:],
        "valid": True,
    }

"""``streamer config schema``: the JSON Schema of the YAML config, for editors and CI.

Generated from the pydantic models (one source), then widened to what the *file* may hold
before the loader runs: ``<secret>_file`` keys next to each secret (read by the loader),
durations and sizes as strings (``units.DURATION_JSON_SCHEMA``). ``${VAR}`` interpolation
happens before validation, so a value like ``${LEADCONDUIT_API_KEY}`` is a plain string.
Cross-field rules (credential ids, semantic bounds) stay with ``streamer check``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a streamer YAML config file."""
    from streamer.settings.loader import SECRET_FIELDS
    from streamer.settings.model import Settings

    schema = Settings.model_json_schema(mode="validation")
    for definition in schema.get("$defs", {}).values():
        _add_secret_files(definition, SECRET_FIELDS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "streamer config",
    }


def _add_secret_files(definition: dict[str, Any], secrets: frozenset[str]) -> None:
    """Each secret may instead be read from ``<name>_file``; exactly one of the two."""
    properties = definition.get("properties", {})
    for name in sorted(secrets & set(properties)):
        key = f"{name}_file"
        properties[key] = {
            "type": "string",
            "title": key,
            "description": f"path of a file holding {name} (instead of {name} itself)",
        }
        required = definition.get("required", [])
        if name in required:
            required.remove(name)
            definition.setdefault("allOf", []).append(
                {"anyOf": [{"required": [name]}, {"required": [key]}]}
            )
            if not required:
                del definition["required"]
        definition.setdefault("allOf", []).append({"not": {"required": [name, key]}})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``streamer config schema``."""
    sub = parser.add_subparsers(dest="config_command", required=True)
    sub.add_parser("schema", help="print the JSON Schema of the config file (for editors, CI)")


def main(args: argparse.Namespace) -> int:
    """Print the schema as indented JSON on stdout."""
    if args.config_command == "schema":
        json.dump(config_schema(), sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    return 0

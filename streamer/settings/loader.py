"""Load the YAML file: interpolate ``${VAR}``, read ``*_file`` secrets, validate everything.

All problems are collected and raised together in one :class:`ConfigError`, each as
``<yaml path>: <what is wrong and what to do>``, so an operator fixes a file in one go.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Tag, ValidationError

from streamer.errors import ConfigError
from streamer.settings.model import Settings
from streamer.settings.rules import config_warnings
from streamer.settings.services import ResolvedService, resolve_services
from streamer.sinks import registry

_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
UNREADABLE = "<unreadable secret file>"
SECRET_FIELDS = frozenset(
    {"api_key", "secret_access_key", "session_token", "connection_string", "hash_salt"}
)


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """Validated settings plus the resolved services and where the file was."""

    settings: Settings
    services: list[ResolvedService]
    path: Path | None
    #: valid but weakening settings (streamer.config_rules): check prints, run logs them
    warnings: tuple[str, ...] = ()

    def secrets(self) -> list[str]:
        """Every secret value in the config, for the log/error redactor."""
        return collect_secrets(self.settings)


def collect_secrets(model: object) -> list[str]:
    """Walk a settings tree and return the plain values of every SecretStr."""
    from pydantic import SecretStr

    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            if secret:
                found.append(secret)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(model)
    return found


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _interpolate(node: Any, loc: tuple[Any, ...], env: dict[str, str], problems: list[str]) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, (*loc, k), env, problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, (*loc, i), env, problems) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env and env[name] != "":
                return env[name]
            if default is not None:
                return default
            problems.append(
                f"{_path(loc)}: environment variable {name} is not set; "
                f"export it or write ${{{name}:-default}}"
            )
            return ""

        return _VAR_RE.sub(sub, node)
    return node


def _read_secret_files(node: Any, loc: tuple[Any, ...], base: Path, problems: list[str]) -> Any:
    if isinstance(node, list):
        return [_read_secret_files(v, (*loc, i), base, problems) for i, v in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        name = key[: -len("_file")] if isinstance(key, str) and key.endswith("_file") else None
        if name in SECRET_FIELDS:
            if name in node:
                problems.append(f"{_path((*loc, key))}: give {name} or {key}, not both")
                continue
            file = Path(str(value)).expanduser()
            file = file if file.is_absolute() else base / file
            try:
                out[name] = file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                problems.append(
                    f"{_path((*loc, key))}: cannot read secret file {file} "
                    f"({exc.strerror or type(exc).__name__}); check the path and permissions"
                )
                # a stand-in, so validation does not add "required key is missing" for it
                out[name] = UNREADABLE
            continue
        out[key] = _read_secret_files(value, (*loc, key), base, problems)
    return out


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns ``loc``'s last key, to suggest the nearest valid key."""
    current: Any = Settings
    for part in loc[:-1]:
        current = _unwrap(current, part)
        if current is None:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: Any, part: Any) -> Any:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if isinstance(part, str) and part in tp.model_fields:
            return _strip(tp.model_fields[part].annotation)
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (list, tuple) and isinstance(part, int) and args:
        return _strip(args[0])
    if origin is dict and args:
        return _strip(args[1])
    if origin in (types.UnionType, typing.Union):
        for arg in args:
            cls = _strip(arg)
            if isinstance(cls, type) and issubclass(cls, BaseModel) and part in _tags(arg, cls):
                return cls
        for arg in args:
            cls = _strip(arg)
            if isinstance(cls, type) and issubclass(cls, BaseModel) and (
                isinstance(part, str) and part in cls.model_fields
            ):
                return _unwrap(cls, part)
    return None


def _tags(arg: Any, cls: type[BaseModel]) -> set[Any]:
    """Union member tags pydantic puts in error locations: Tag(...) or a Literal service."""
    tags: set[Any] = {cls.__name__}
    if typing.get_origin(arg) is typing.Annotated:
        tags |= {m.tag for m in typing.get_args(arg)[1:] if isinstance(m, Tag)}
    service = cls.model_fields.get("service")
    if service is not None:
        tags |= set(typing.get_args(service.annotation))
    return tags


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _strip(args[0])
    return tp


def _format_error(err: Any) -> str:
    raw = tuple(err["loc"])
    # pydantic inserts union tags (e.g. 'aws', 'filter') into loc; the model lookup uses
    # them, the printed path drops them so it reads like the YAML.
    clean: list[Any] = []
    for part in raw:
        if clean and part == clean[-1]:
            continue
        clean.append(part)
    if len(clean) >= 3 and clean[0] == "credentials" and clean[2] in registry.SERVICES:
        del clean[2]
    loc = tuple(clean)
    kind = err["type"]
    if kind == "extra_forbidden":
        bad = loc[-1]
        model = _model_at(raw)
        hint = ""
        if model is not None:
            close = difflib.get_close_matches(str(bad), list(model.model_fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else (
                "; valid keys: " + ", ".join(model.model_fields)
            )
        return f"{_path(loc)}: unknown key{hint}"
    if kind == "missing":
        return f"{_path(loc)}: required key is missing"
    msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    got = err.get("input")
    shown = "" if isinstance(got, dict | list) or "got " in msg else f" (got {got!r})"
    if any(str(p) in SECRET_FIELDS for p in loc):
        shown = ""
    return f"{_path(loc)}: {msg}{shown}"


def parse_settings(raw: object, *, base: Path, env: dict[str, str] | None = None) -> LoadedConfig:
    """Validate an already-parsed YAML document; raise ConfigError listing every problem."""
    problems: list[str] = []
    if raw is None:
        raise ConfigError("config is empty: start from config/streamer.example.yaml")
    if not isinstance(raw, dict):
        raise ConfigError("config must be a YAML mapping (key: value), not a list or a scalar")
    data = _interpolate(raw, (), dict(os.environ) if env is None else env, problems)
    data = _read_secret_files(data, (), base, problems)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        # a value already reported (unset ${VAR}) is not reported again as empty/invalid
        reported = {p.split(": ", 1)[0] for p in problems}
        for e in exc.errors():
            message = _format_error(e)
            if message.split(": ", 1)[0] not in reported:
                problems.append(message)
        raise ConfigError(problems) from None
    services, more = resolve_services(settings)
    problems.extend(more)
    try:
        from streamer.stages.base import build_pipeline

        build_pipeline(settings.pipeline)
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        raise ConfigError(problems)
    return LoadedConfig(settings, services, None, tuple(config_warnings(settings, services)))


def load_config(path: str | Path, *, env: dict[str, str] | None = None) -> LoadedConfig:
    """Read, interpolate and validate ``path``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: config file not found; pass -c PATH") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config ({exc.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{file}:{where}: invalid YAML ({problem})") from None
    loaded = parse_settings(raw, base=Path(), env=env)
    return LoadedConfig(loaded.settings, loaded.services, file, loaded.warnings)

"""Loading YAML config files into pydantic models, with errors that name the file, line and key.

Both the kiosk and the hub use this, so ``kiosk check-config`` and
``hub check-config`` report problems the same way::

    kiosk.yaml: line 12: mqtt.port: Input should be less than or equal to 65535

Any key can be overridden from the environment (containers, systemd drop-ins, CI), with the
program's prefix and ``__`` between nesting levels; values are read as YAML scalars::

    HUB__MQTT__PORT=8883  HUB__ATTENDANCE__HOLIDAYS='[2026-01-26]'  KIOSK__DISPLAY__BACKEND=none
"""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "password", "secret", "admin", "default"}

C = TypeVar("C", bound=BaseModel)


class ConfigError(Exception):
    """A config file is missing, unreadable or invalid; ``problems`` lists each."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(f"{self.path}: {p}" for p in problems))


class _Loader(yaml.SafeLoader):
    """SafeLoader whose bad dates are YAML errors with a line, not a bare ValueError.

    PyYAML turns ``2026-02-30`` into ``datetime.date`` while constructing and lets the
    ValueError escape without any position; ``check-config`` used to crash on it.
    """

    def construct_yaml_timestamp(self, node: yaml.Node) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a valid date or time ({exc})", node.start_mark) from exc


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    what = " ".join(str(part) for part in (getattr(exc, "context", None), getattr(exc, "problem", None)) if part)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}not valid YAML: {what or exc}"


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the key (or list item) at ``loc`` in the composed YAML, if it is there."""
    node, line = root, None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    node, line = value, key.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def env_overrides(prefix: str, env: Mapping[str, str]) -> dict[str, tuple[tuple[str, ...], str]]:
    """``PREFIX__A__B=v`` variables as {variable: (("a", "b"), "v")}; keys are lower-cased."""
    start = f"{prefix}__"
    return {name: (tuple(part.lower() for part in name[len(start):].split("__")), value)
            for name, value in env.items() if name.startswith(start) and name != start}


def _apply_overrides(data: dict[str, Any], overrides: dict[str, tuple[tuple[str, ...], str]]) -> list[str]:
    problems = []
    for name, (path, raw) in sorted(overrides.items()):
        if not all(path):
            problems.append(f"{name} (environment): empty key part")
            continue
        try:
            value = yaml.load(raw, Loader=_Loader) if raw.strip() else ""
        except yaml.YAMLError as exc:
            problems.append(f"{name} (environment): {_yaml_problem(exc)}")
            continue
        target = data
        for part in path[:-1]:
            child = target.get(part)
            if child is None:
                child = target[part] = {}
            if not isinstance(child, dict):
                problems.append(f"{name} (environment): {'.'.join(path[:-1])} is not a section")
                break
            target = child
        else:
            target[path[-1]] = value
    return problems


def load_config(path: Path | str, model: type[C], env_prefix: str | None = None,
                env: Mapping[str, str] | None = None) -> C:
    """Read ``path`` as YAML, apply ``{env_prefix}__...`` environment overrides, validate against ``model``.

    Every problem names its line in the file (or the environment variable that set it), so a
    mistyped key in a 200-line hub.yaml is found without reading it all.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [f"cannot read: {exc.strerror or exc}"]) from exc
    try:
        root = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ConfigError(path, [_yaml_problem(exc)]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, ["top level must be a mapping of keys to values"])
    overrides = env_overrides(env_prefix, os.environ if env is None else env) if env_prefix else {}
    if problems := _apply_overrides(data, overrides):
        raise ConfigError(path, problems)
    from_env = {".".join(key): name for name, (key, _) in overrides.items()}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = ".".join(str(p) for p in loc) or "(top level)"
            source = next((f"{name} (environment): " for key, name in from_env.items()
                           if where == key or where.startswith(key + ".")), None)
            if source is None:
                line = _line_of(root, loc)
                source = f"line {line}: " if line is not None else ""
            problems.append(f"{source}{where}: {err['msg']}")
        raise ConfigError(path, problems) from exc


def credentials_path(name_or_path: str | Path) -> Path:
    """Resolve a secret file, relative to systemd's ``$CREDENTIALS_DIRECTORY``.

    An absolute path is used as is; a bare name is looked up in the
    credentials directory that ``LoadCredential=`` provides, if set.
    """
    path = Path(name_or_path)
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if not path.is_absolute() and cred_dir and (Path(cred_dir) / path).exists():
        return Path(cred_dir) / path
    return path


def read_secret(name_or_path: str | Path, what: str) -> str:
    """Read a secret from a file, refusing empty and placeholder values.

    The value is never logged or put into an error message.
    """
    path = credentials_path(name_or_path)
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(path, [f"cannot read {what}: {exc.strerror or exc}"]) from exc
    if value.lower() in PLACEHOLDER_SECRETS or len(value) < 12:
        raise ConfigError(path, [f"{what} is empty, too short (<12) or a placeholder; set a real secret"])
    return value

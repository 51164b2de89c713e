"""Loading YAML config files into pydantic models, with errors that name the key.

Both the kiosk and the hub use this, so ``kiosk check-config`` and
``hub check-config`` report problems the same way::

    kiosk.yaml: mqtt.port: Input should be less than or equal to 65535
"""

import os
from pathlib import Path
from typing import TypeVar

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


def load_config(path: Path | str, model: type[C]) -> C:
    """Read ``path`` as YAML and validate it against ``model``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [f"cannot read: {exc.strerror or exc}"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"not valid YAML: {exc}"]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, ["top level must be a mapping of keys to values"])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            problems.append(f"{where}: {err['msg']}")
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

"""Loading hotfix.yml: YAML parsed with line numbers, validated by the settings models.

A bad file stops the bot with one message naming every wrong field, the file
and the line, so nobody has to guess which of forty keys is off.
"""

from __future__ import annotations

import copy
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from services.deploy import registry
from services.deploy.settings import EnvironmentSettings
from services.preflight import preflight
from services.settings import Settings

DEFAULT_CONFIG = Path("hotfix.yml")
EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "hotfix.example.yml"
CONFIG_ENV = "HOTFIX_CONFIG"


@dataclass(frozen=True)
class ConfigProblem:
    line: int | None
    field: str
    message: str


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid."""

    def __init__(self, path: Path, problems: list[ConfigProblem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(self.report())

    def report(self) -> str:
        count = len(self.problems)
        lines = [f"{self.path}: {count} problem{'s' if count != 1 else ''} in the configuration"]
        for problem in self.problems:
            where = f"{self.path}:{problem.line}" if problem.line else str(self.path)
            field = f"{problem.field}: " if problem.field else ""
            lines.append(f"  {where}: {field}{problem.message}")
        return "\n".join(lines)


@dataclass(frozen=True)
class LoadedConfig:
    path: Path
    settings: Settings
    is_example: bool = False
    # The parsed YAML, with the line of every key: problems found later are located with it.
    root: yaml.Node | None = field(default=None, compare=False, repr=False)


def resolve_config_path(explicit: str | None) -> tuple[Path, bool]:
    """The file to load: --config, then $HOTFIX_CONFIG, then hotfix.yml, then the example."""
    if explicit:
        return Path(explicit), False
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env), False
    if DEFAULT_CONFIG.exists():
        return DEFAULT_CONFIG, False
    return EXAMPLE_CONFIG, True


def load_config(path: Path, *, is_example: bool = False) -> LoadedConfig:
    """The file's settings, or ConfigError naming every invalid field (nothing on disk is looked at)."""
    root, data = _parse(path)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, _problems(exc, root)) from exc
    return LoadedConfig(
        path=path,
        settings=_relative_to(settings, path.parent),
        is_example=is_example,
        root=root,
    )


def check_config_file(
    path: Path, *, is_example: bool = False
) -> tuple[LoadedConfig | None, list[ConfigProblem]]:
    """Everything `check-config` reports: invalid fields, then what would fail at run time.

    An invalid file still has its valid parts checked (each invalid part left out), so
    a bad URL and a missing deploy script are reported together, not one per run.
    """
    try:
        loaded = load_config(path, is_example=is_example)
    except ConfigError as exc:
        try:
            root, data = _parse(path)
        except ConfigError:
            return None, exc.problems
        salvaged = _salvage(data)
        if salvaged is None:
            return None, exc.problems
        partial = LoadedConfig(path, _relative_to(salvaged, path.parent), is_example, root)
        return None, _by_line(exc.problems + runtime_problems(partial))
    return loaded, runtime_problems(loaded)


def runtime_problems(loaded: LoadedConfig) -> list[ConfigProblem]:
    """Paths and programs that do not exist on this machine, with the lines naming them."""
    return [
        ConfigProblem(
            _line_of(loaded.root, finding.loc),
            ".".join(str(part) for part in finding.loc),
            finding.message,
        )
        for finding in preflight(loaded.settings)
    ]


def _parse(path: Path) -> tuple[yaml.Node | None, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            path, [ConfigProblem(None, "", f"cannot read the file: {exc.strerror}")]
        ) from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, [ConfigProblem(line, "", f"not valid YAML: {problem}")]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            path, [ConfigProblem(1, "", "the file must be a mapping of keys to values")]
        )
    return root, data


def _salvage(data: dict[str, Any]) -> Settings | None:
    """The settings of the file's valid parts: each invalid key (or section) dropped."""
    data = copy.deepcopy(data)
    for _ in range(_SALVAGE_ROUNDS):
        try:
            return Settings.model_validate(data)
        except ValidationError as exc:
            dropped = [_drop(data, tuple(error["loc"])) for error in exc.errors()]
        if not any(dropped):
            return None
    return None


_SALVAGE_ROUNDS = 8  # a dropped key can make its section invalid (required): a few rounds


def _drop(data: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    """Remove the deepest mapping key on `loc` that is present.

    A list is dropped whole rather than one item, so the items kept keep their
    indexes, and with them the lines their problems are reported on.
    """
    container: Any = data
    deepest: tuple[dict[str, Any], Any] | None = None
    for part in loc:
        if not isinstance(container, dict) or part not in container:
            break
        deepest = (container, part)
        container = container[part]
    if deepest is None:
        return False
    parent, key = deepest
    del parent[key]
    return True


def _by_line(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))


def _relative_to(settings: Settings, base: Path) -> Settings:
    """Relative paths in the file mean relative to the file, wherever the bot is started."""
    store = settings.store
    if not store.path.is_absolute() and str(store.path) != ":memory:":
        store = store.model_copy(update={"path": (base / store.path).resolve()})
    templates_dir = settings.templates_dir
    if templates_dir is not None and not templates_dir.is_absolute():
        templates_dir = (base / templates_dir).resolve()
    return settings.model_copy(update={"store": store, "templates_dir": templates_dir})


def _problems(exc: ValidationError, root: yaml.Node | None) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        field = ".".join(str(part) for part in loc)
        if error["type"] == "extra_forbidden":
            message = "unknown key" + _suggestion(loc)
        else:
            message = error["msg"].removeprefix("Value error, ")  # our validators' own words
            # A value is worth repeating; a whole section (a model's own check) is not.
            scalar = not isinstance(error.get("input"), dict | list)
            if "input" in error and error["type"] != "missing" and scalar:
                message += f" (got {error['input']!r})"
        problems.append(ConfigProblem(_line_of(root, loc), field, message))
    return problems


def _suggestion(loc: tuple[Any, ...]) -> str:
    model = _model_at(Settings, loc[:-1])
    if model is None:
        return ""
    keys = _keys_of(model)
    close = difflib.get_close_matches(str(loc[-1]), keys, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (valid keys: {', '.join(keys)})"


def _keys_of(model: type[BaseModel]) -> list[str]:
    """The keys a mapping of `model` may have in the file: an environment's include one
    section per backend the registry knows, never the model's internal fields."""
    keys = [name for name, field in model.model_fields.items() if not field.exclude]
    if model is EnvironmentSettings:
        keys += list(registry.BACKENDS)
    return keys


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The settings model that validates the mapping found at `loc`."""
    current: Any = model
    for part in loc:
        if current is EnvironmentSettings and str(part) in registry.BACKENDS:
            current = registry.BACKENDS[str(part)].settings_model  # a backend's own section
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        else:
            args = [a for a in typing.get_args(current) if a is not type(None)]
            origin = typing.get_origin(current)
            if origin in (dict, list, tuple, types.UnionType, typing.Union) and args:
                current = args[-1]
            else:
                return None
        current = _unwrap_optional(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the value at `loc`, or of the nearest enclosing node."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            return line
        node = child
    return line

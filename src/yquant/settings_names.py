"""Setting names checked against the settings model: a typo is an error, never a default.

pydantic-settings reads only the environment variables that match a field and, in sections
without ``extra="forbid"``, drops unknown TOML keys; either way a misspelt setting would leave
its default in force without a word. Here every ``YQUANT__…`` variable and every TOML key is
walked down the model, and an unknown name is reported with the closest valid one.
"""

from __future__ import annotations

import difflib
import inspect
import types
from collections.abc import Mapping
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

PREFIX = "YQUANT__"
DELIMITER = "__"


def _kind(annotation: Any) -> tuple[str, Any]:
    """("model", class), ("dict", value annotation) or ("leaf", None)."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            annotation = members[0]
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return "model", annotation
    if get_origin(annotation) is dict:
        return "dict", get_args(annotation)[1]
    return "leaf", None


def is_list(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        annotation = members[0] if len(members) == 1 else annotation
    return get_origin(annotation) in (list, tuple, set, frozenset)


def split_list(text: str) -> list[str]:
    """A list given as comma-separated text: ``a,b``; also ``[a, b]`` and ``["a", "b"]``
    as a shell leaves them once it has removed the inner quotes."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return [item.strip().strip("'\"").strip() for item in text.split(",") if item.strip()]


def _closest(name: str, choices: list[str]) -> str | None:
    found = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_env_names(model: type[BaseModel], environ: Mapping[str, str]) -> list[str]:
    """One message for every ``YQUANT__…`` variable that names no setting, and for every
    ``YQUANT_…`` variable (one underscore) that would name one with two."""
    problems = []
    for var in sorted(environ):
        upper = var.upper()
        if upper.startswith(PREFIX):
            problem = _env_problem(model, var, upper[len(PREFIX) :].lower().split(DELIMITER))
            if problem:
                problems.append(problem)
        elif upper.startswith("YQUANT_"):
            path = _underscore_path(model, upper[len("YQUANT_") :].lower())
            if path:
                meant = PREFIX + DELIMITER.join(path).upper()
                problems.append(f"{var}: not read (one underscore); did you mean {meant}?")
    return problems


def _env_problem(model: type[BaseModel], var: str, parts: list[str]) -> str | None:
    kind, current = "model", model
    for i, part in enumerate(parts):
        done = PREFIX + DELIMITER.join(parts[:i]).upper()
        if kind == "leaf":
            return f"{var}: {done} takes a value, it has no settings under it"
        if not part:
            return f"{var}: empty name between the '__' separators"
        if kind == "dict":  # a free key (an account, a strategy, a currency, ...)
            kind, current = _kind(current)
            continue
        fields = list(current.model_fields)
        if part not in fields:
            guess = _closest(part, fields)
            if guess is None:
                return f"{var}: unknown setting (known here: {', '.join(fields)})"
            rest = [guess, *parts[i + 1 :]]
            meant = (done + DELIMITER if i else PREFIX) + DELIMITER.join(rest).upper()
            return f"{var}: unknown setting; did you mean {meant}?"
        kind, current = _kind(current.model_fields[part].annotation)
    return None


def _underscore_path(model: type[BaseModel], rest: str) -> list[str] | None:
    """``webhook_port`` -> ["webhook", "port"] when that names a setting of ``model``."""
    for name, field in model.model_fields.items():
        if rest == name:
            return [name]
        if rest.startswith(name + "_"):
            kind, inner = _kind(field.annotation)
            if kind == "model":
                sub = _underscore_path(inner, rest[len(name) + 1 :])
                if sub:
                    return [name, *sub]
    return None


def unknown_toml_keys(model: type[BaseModel], data: Mapping[str, Any], where: str) -> list[str]:
    """One message for every key of the TOML file that names no setting, at any depth."""
    problems: list[str] = []
    _walk_toml("model", model, data, [], where, problems)
    return problems


def _walk_toml(
    kind: str, current: Any, data: Any, path: list[str], where: str, problems: list[str]
) -> None:
    if kind == "leaf" or not isinstance(data, Mapping):
        return
    for key, value in data.items():
        if kind == "dict":
            inner_kind, inner = _kind(current)
            _walk_toml(inner_kind, inner, value, [*path, str(key)], where, problems)
            continue
        fields = list(current.model_fields)
        if key not in fields:
            dotted = ".".join([*path, str(key)])
            guess = _closest(str(key), fields)
            hint = (
                f"did you mean {'.'.join([*path, guess])}?"
                if guess
                else f"known here: {', '.join(fields)}"
            )
            problems.append(f"{where}: {dotted}: unknown setting; {hint}")
            continue
        inner_kind, inner = _kind(current.model_fields[key].annotation)
        _walk_toml(inner_kind, inner, value, [*path, key], where, problems)

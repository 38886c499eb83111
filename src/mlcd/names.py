"""Validation of names that become paths or keys, and parsing of `name@version` references."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlcd.errors import InvalidNameError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_VERSION = re.compile(r"latest|[1-9][0-9]*")


def validate_name(name: str, kind: str = "dataset") -> str:
    """Return `name` if it is safe as a path component and DB key, else raise InvalidNameError."""
    if not name:
        raise InvalidNameError(f"{kind} name is empty", hint="use letters, digits, '_', '-', '.'")
    if not _NAME.fullmatch(name) or ".." in name:
        raise InvalidNameError(
            f"invalid {kind} name {name!r}",
            hint="a name starts with a letter or digit and contains only letters, digits, "
            "'_', '-' and '.' (no '/', no '..', at most 128 characters)",
        )
    return name


_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def validate_alias(alias: str) -> str:
    """An alias is a name that cannot be mistaken for a version: not a number, not 'latest'."""
    if not _ALIAS.fullmatch(alias) or alias == "latest":
        raise InvalidNameError(
            f"invalid alias {alias!r}",
            hint="an alias starts with a letter and has letters, digits, '_' or '-' "
            "(and is not 'latest'), e.g. staging, production",
        )
    return alias


_ROLE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")


def validate_role(role: str, dataset: str) -> str:
    """The role a dataset version played for a model (`train`, `validation`, ...)."""
    if not _ROLE.fullmatch(role):
        raise InvalidNameError(
            f"invalid role {role!r} for dataset {dataset!r}",
            hint="a role starts with a letter and has letters, digits, '_' or '-' "
            "(at most 32 characters), e.g. train, validation, test",
        )
    return role


@dataclass(frozen=True)
class Ref:
    """A parsed `name@version` reference; `version` is a number or the string 'latest'."""

    name: str
    version: int | str

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


def parse_ref(
    text: str, kind: str = "dataset", default: str | None = "latest", aliases: bool = False
) -> Ref:
    """Parse `name@N` or `name@latest` (or a bare name, taken as `default`); with `aliases`,
    also `name@staging`, whose version is then the alias name."""
    name, sep, version = text.partition("@")
    if sep and not name:  # "@3": say which reference, not just "name is empty"
        raise InvalidNameError(f"no {kind} name before '@' in {text!r}", hint=f"write NAME{text}")
    validate_name(name, kind)
    if not sep:
        if default is None:
            raise InvalidNameError(
                f"{text!r} names no version", hint=f"write {name}@<number> or {name}@latest"
            )
        version = default
    if aliases and not _VERSION.fullmatch(version) and _ALIAS.fullmatch(version):
        return Ref(name, version)
    if not _VERSION.fullmatch(version):
        raise InvalidNameError(
            f"malformed version {version!r} in {text!r}",
            hint=f"write {name}@<number> (1, 2, ...) or {name}@latest"
            + (f" or {name}@<alias>" if aliases else ""),
        )
    return Ref(name, int(version) if version.isdigit() else version)

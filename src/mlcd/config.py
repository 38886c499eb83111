"""mlcd.yaml: validated by a pydantic schema (errors name the key path), used as dataclasses."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mlcd.errors import ConfigError

CONFIG_FILE = "mlcd.yaml"
DB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "mssql", "oracle")


def is_database_url(text: str) -> bool:
    """True for SQLAlchemy URLs of a database (`sqlite:///ops.db`, `postgresql+psycopg://...`)."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.split("+")[0] in DB_SCHEMES


@dataclass(frozen=True)
class DatasetConfig:
    """A dataset: where `mlcd data snapshot NAME` reads from when no source is given."""

    source: str | None = None
    query: str | None = None
    table: str | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ModelConfig:
    """Register a step's output as a model version after each successful execution."""

    name: str
    output: str | None = None  # which output holds the artifact (default: the only one)
    flavor: str | None = None
    example: str | None = None  # a .parquet/.csv/.npy file of input rows
    datasets: dict[str, str] = field(default_factory=dict)  # dataset name -> role
    trust: list[str] = field(default_factory=list)
    description: str | None = None
    checks: list[str] = field(default_factory=list)  # run after registration
    validation: str | None = None  # a .parquet/.csv of held-out rows for the checks
    target: str | None = None  # its label column


@dataclass(frozen=True)
class StepConfig:
    """A pipeline step: a command or `module:function`, what it reads, and what it writes."""

    run: str
    inputs: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    metrics: str | None = None
    deps: list[str] = field(default_factory=list)
    model: ModelConfig | None = None

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):  # built from a plain mapping (tests, the cache)
            object.__setattr__(self, "model", ModelConfig(**self.model))


@dataclass(frozen=True)
class MlcdConfig:
    """The whole of mlcd.yaml. Sections of later features are kept as plain mappings for now."""

    project: str
    seed: int = 0
    store: str = ".mlcd/objects"
    metadata: str = "sqlite:///.mlcd/mlcd.db"
    datasets: dict[str, DatasetConfig] = field(default_factory=dict)
    steps: dict[str, StepConfig] = field(default_factory=dict)
    release: dict[str, Any] = field(default_factory=dict)
    on: dict[str, Any] = field(default_factory=dict)


def load_yaml(text: str) -> Any:
    """`yaml.safe_load`, refusing a key given twice in one mapping (YAML keeps the last one
    silently: a second `seed:` further down would win unseen)."""
    import yaml

    class UniqueKeys(yaml.SafeLoader):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is given twice", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep)

    return yaml.load(text, Loader=UniqueKeys)  # a SafeLoader: no arbitrary objects


def load_config(path: Path) -> MlcdConfig:
    """Read and validate mlcd.yaml; every problem becomes one ConfigError with its key path."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        raw = load_yaml(text)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start]
        raise ConfigError(
            f"{path.name} is not valid UTF-8 (byte offset {exc.start}: {bad:#04x})",
            hint=f"save {path.name} as UTF-8",
        ) from exc
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(
            f"{path.name}{line} is not valid YAML: {getattr(exc, 'problem', exc)}"
        ) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: expected a mapping of keys, got {type(raw).__name__}")
    if True in raw:  # YAML 1.1 reads a bare `on:` key as the boolean true
        raw["on"] = raw.pop(True)
    from pydantic import ValidationError

    from mlcd.config_schema import MlcdConfig as Schema

    try:
        valid = Schema.model_validate(raw)
    except ValidationError as exc:
        if any(e["loc"][-1:] == ("[key]",) or e["type"] == "invalid_key" for e in exc.errors()):
            _refuse_typed_keys(path.name, text)
        raise ConfigError(_describe(path.name, exc), hint=f"fix {path.name} and retry") from None
    return _construct(valid.model_dump(mode="json"))


def load_config_cached(path: Path, cache: Path) -> MlcdConfig:
    """load_config, validating each content of mlcd.yaml once.

    Importing pydantic and building its validators costs ~100 ms, a third of a command people
    run in loops (a no-op `mlcd run`); a config already validated is rebuilt from its cached
    dump instead, as plain dataclasses.
    The cache key covers the file's bytes and the models' fields, so any change revalidates.
    """
    from blake3 import blake3

    from mlcd import jsoncache

    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    key = blake3(text + _fields_signature().encode()).hexdigest()
    cached = jsoncache.read(cache, key)
    if cached is not None:
        try:
            return _construct(cached)
        except (KeyError, TypeError, AttributeError):
            pass  # a cache from another layout: validate again
    config = load_config(path)
    jsoncache.write(cache, key, asdict(config))
    return config


def _fields_signature() -> str:
    models = (MlcdConfig, DatasetConfig, StepConfig, ModelConfig)
    return ";".join(f"{m.__name__}:{','.join(f.name for f in fields(m))}" for m in models)


def _construct(raw: dict[str, Any]) -> MlcdConfig:
    """Dataclasses from a validated document (the schema's dump, or its cached copy)."""
    datasets = {k: DatasetConfig(**v) for k, v in raw["datasets"].items()}
    steps = {k: StepConfig(**v) for k, v in raw["steps"].items()}
    return MlcdConfig(**{**raw, "datasets": datasets, "steps": steps})


def key_path(loc: tuple[int | str, ...]) -> str:
    """`datasets.sales.checks[0].min`: list positions in brackets, as people write them."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _refuse_typed_keys(filename: str, text: str) -> None:
    """Name a key YAML 1.1 turned into a boolean or number (`no:`, `2024:`) as it is written:
    pydantic only sees `False` or `2024`, and would say "[0]: Keys should be strings"."""
    import yaml

    kinds = {"bool": "a boolean", "int": "a number", "float": "a number", "null": "null"}

    def walk(node: yaml.Node | None, at: str) -> None:
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, f"{at}[{i}]")
        if not isinstance(node, yaml.MappingNode):
            return
        for key, value in node.value:
            kind = kinds.get(key.tag.rsplit(":", 1)[-1])
            if kind and not (at == "" and key.value.lower() == "on"):  # `on:` is load_config's
                raise ConfigError(
                    f"{filename}: {at or '(top level)'}: YAML reads the key {key.value!r} as "
                    f"{kind}, not a name",
                    hint=f'quote it: "{key.value}":',
                )
            walk(value, f"{at}.{key.value}" if at else str(key.value))

    walk(yaml.compose(text, Loader=yaml.SafeLoader), "")


def _describe(filename: str, exc: Any) -> str:
    lines = []
    for err in exc.errors():
        key = key_path(err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"{key}: {msg}")
    return f"{filename}: " + "; ".join(lines)

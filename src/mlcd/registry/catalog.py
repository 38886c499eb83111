"""Models in the metadata DB: versions, aliases with history, dataset lineage (plain SQL)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from mlcd.errors import NotFoundError
from mlcd.meta.db import SqlConnection, parse_datetime
from mlcd.names import Ref
from mlcd.registry.entities import AliasMove, DatasetUse, ModelSummary, ModelVersion

_VERSIONS = "SELECT v.*, m.name FROM model_versions v JOIN models m ON m.id = v.model_id"


def model_id(conn: SqlConnection, name: str, lock: bool = False) -> int | None:
    sql = "SELECT id FROM models WHERE name = :name"
    if lock and conn.dialect != "sqlite":
        sql += " FOR UPDATE"  # SQLite serialises writers already (BEGIN IMMEDIATE)
    rows = conn.execute(sql, {"name": name})
    return int(rows[0]["id"]) if rows else None


def ensure_model(conn: SqlConnection, name: str) -> int:
    conn.execute(
        "INSERT INTO models (name, created_at) VALUES (:name, :now) ON CONFLICT (name) DO NOTHING",
        {"name": name, "now": datetime.now(UTC)},
    )
    found = model_id(conn, name, lock=True)
    assert found is not None
    return found


def next_number(conn: SqlConnection, mid: int) -> int:
    rows = conn.execute(
        "SELECT max(number) AS n FROM model_versions WHERE model_id = :m", {"m": mid}
    )
    return int(rows[0]["n"] or 0) + 1


def insert_version(conn: SqlConnection, mid: int, v: ModelVersion) -> None:
    conn.execute(
        "INSERT INTO model_versions (model_id, number, flavor, artifact, files, bytes, signature,"
        " example, onnx, onnx_parity, onnx_serving, metrics, tags, description, run_id, step,"
        " git, params, seed, env_lock, created_at, created_by) VALUES (:model_id, :number,"
        " :flavor, :artifact, :files, :bytes, :signature, :example, :onnx, :onnx_parity,"
        " :onnx_serving, :metrics, :tags, :description, :run_id, :step, :git, :params, :seed,"
        " :env_lock, :created_at, :created_by)",
        {
            "model_id": mid,
            "number": v.number,
            "flavor": v.flavor,
            "artifact": v.artifact,
            "files": v.files,
            "bytes": v.bytes,
            "signature": json.dumps(v.signature),
            "example": v.example,
            "onnx": v.onnx,
            "onnx_parity": v.onnx_parity,
            "onnx_serving": int(v.onnx_serving),
            "metrics": json.dumps(v.metrics),
            "tags": json.dumps(v.tags),
            "description": v.description,
            "run_id": v.run_id,
            "step": v.step,
            "git": json.dumps(v.git) if v.git is not None else None,
            "params": json.dumps(v.params, default=str),
            "seed": v.seed,
            "env_lock": v.env_lock,
            "created_at": v.created_at,
            "created_by": v.created_by,
        },
    )
    vid = conn.execute(
        "SELECT id FROM model_versions WHERE model_id = :m AND number = :n",
        {"m": mid, "n": v.number},
    )[0]["id"]
    conn.executemany(
        "INSERT INTO model_datasets (model_version_id, dataset, version, content_id, role)"
        " VALUES (:vid, :dataset, :version, :content_id, :role)",
        [{"vid": vid, **d.__dict__} for d in v.datasets],
    )


def resolve(conn: SqlConnection, ref: Ref) -> ModelVersion:
    """The version `name@N`, `name@latest` or `name@alias` names, with its lineage and aliases."""
    mid = model_id(conn, ref.name)
    if mid is None:
        names = [r["name"] for r in conn.execute("SELECT name FROM models ORDER BY name")]
        raise NotFoundError(
            f"model {ref.name!r} does not exist",
            hint=f"known models: {', '.join(names[:10]) or 'none yet'}; "
            "register one with `mlcd models register NAME PATH`",
        )
    number = _number(conn, mid, ref)
    rows = conn.execute(
        f"{_VERSIONS} WHERE v.model_id = :m AND v.number = :n", {"m": mid, "n": number}
    )
    if not rows:
        newest = next_number(conn, mid) - 1
        raise NotFoundError(
            f"model {ref.name!r} has no version {ref.version}",
            hint=f"versions are 1..{newest}; see `mlcd models list`" if newest else None,
        )
    return _full(conn, rows[0])


def _number(conn: SqlConnection, mid: int, ref: Ref) -> int:
    if isinstance(ref.version, int):
        return ref.version
    if ref.version == "latest":
        return next_number(conn, mid) - 1
    rows = conn.execute(
        "SELECT version FROM model_aliases WHERE model_id = :m AND alias = :a",
        {"m": mid, "a": ref.version},
    )
    if not rows:
        known = [
            r["alias"]
            for r in conn.execute(
                "SELECT alias FROM model_aliases WHERE model_id = :m ORDER BY alias", {"m": mid}
            )
        ]
        raise NotFoundError(
            f"model {ref.name!r} has no alias {ref.version!r}",
            hint=f"aliases: {', '.join(known) or 'none yet'}; set one with "
            f"`mlcd models alias {ref.name} {ref.version} VERSION`",
        )
    return int(rows[0]["version"])


def _full(conn: SqlConnection, row: dict[str, Any]) -> ModelVersion:
    v = _entity(row)
    datasets = tuple(
        DatasetUse(r["dataset"], r["version"], r["content_id"], r["role"])
        for r in conn.execute(
            "SELECT * FROM model_datasets WHERE model_version_id = :id ORDER BY dataset, role",
            {"id": row["id"]},
        )
    )
    aliases = tuple(
        r["alias"]
        for r in conn.execute(
            "SELECT alias FROM model_aliases WHERE model_id = :m AND version = :n ORDER BY alias",
            {"m": row["model_id"], "n": row["number"]},
        )
    )
    return replace(v, datasets=datasets, aliases=aliases)


def _entity(row: dict[str, Any]) -> ModelVersion:
    created = parse_datetime(row["created_at"])
    assert created is not None
    return ModelVersion(
        name=row["name"],
        number=row["number"],
        flavor=row["flavor"],
        artifact=row["artifact"],
        files=row["files"],
        bytes=row["bytes"],
        signature=json.loads(row["signature"]),
        example=row["example"],
        onnx=row["onnx"],
        onnx_parity=row["onnx_parity"],
        onnx_serving=bool(row["onnx_serving"]),
        metrics=json.loads(row["metrics"]),
        tags=json.loads(row["tags"]),
        description=row["description"],
        run_id=row["run_id"],
        step=row["step"],
        git=json.loads(row["git"]) if row["git"] else None,
        params=json.loads(row["params"]),
        seed=row["seed"],
        env_lock=row["env_lock"],
        created_at=created,
        created_by=row["created_by"],
    )


def versions(conn: SqlConnection, name: str) -> list[ModelVersion]:
    resolve(conn, Ref(name, "latest"))  # a clear error for an unknown model
    rows = conn.execute(f"{_VERSIONS} WHERE m.name = :name ORDER BY v.number DESC", {"name": name})
    return [_entity(r) for r in rows]


def summaries(conn: SqlConnection) -> list[ModelSummary]:
    rows = conn.execute(
        "SELECT m.id, m.name, max(v.number) AS latest, count(v.id) AS n,"
        " max(v.created_at) AS updated FROM models m JOIN model_versions v ON v.model_id = m.id"
        " GROUP BY m.id, m.name ORDER BY m.name"
    )
    aliases: dict[int, dict[str, int]] = {}
    for r in conn.execute("SELECT model_id, alias, version FROM model_aliases ORDER BY alias"):
        aliases.setdefault(r["model_id"], {})[r["alias"]] = r["version"]
    return [
        ModelSummary(
            r["name"], r["latest"], r["n"], aliases.get(r["id"], {}), parse_datetime(r["updated"])
        )
        for r in rows
    ]


def move_alias(
    conn: SqlConnection, name: str, alias: str, version: int | None, by: str, reason: str | None
) -> AliasMove:
    """Point `alias` at `version` (None removes it), recording the move in the history."""
    mid = model_id(conn, name, lock=True)
    if mid is None:
        raise NotFoundError(f"model {name!r} does not exist")
    if version is not None:
        resolve(conn, Ref(name, version))  # the target must exist
    rows = conn.execute(
        "SELECT version FROM model_aliases WHERE model_id = :m AND alias = :a",
        {"m": mid, "a": alias},
    )
    before = int(rows[0]["version"]) if rows else None
    if before is None and version is None:
        raise NotFoundError(f"model {name!r} has no alias {alias!r} to remove")
    now = datetime.now(UTC)
    conn.execute(
        "DELETE FROM model_aliases WHERE model_id = :m AND alias = :a", {"m": mid, "a": alias}
    )
    if version is not None:
        conn.execute(
            "INSERT INTO model_aliases (model_id, alias, version, updated_at)"
            " VALUES (:m, :a, :v, :now)",
            {"m": mid, "a": alias, "v": version, "now": now},
        )
    conn.execute(
        "INSERT INTO alias_history (model_id, alias, from_version, to_version, at, by, reason)"
        " VALUES (:m, :a, :f, :t, :at, :by, :reason)",
        {"m": mid, "a": alias, "f": before, "t": version, "at": now, "by": by, "reason": reason},
    )
    return AliasMove(name, alias, before, version, now, by, reason)


def alias_history(conn: SqlConnection, name: str) -> list[AliasMove]:
    mid = model_id(conn, name)
    if mid is None:
        raise NotFoundError(f"model {name!r} does not exist")
    rows = conn.execute(
        "SELECT * FROM alias_history WHERE model_id = :m ORDER BY id DESC", {"m": mid}
    )
    return [
        AliasMove(
            name,
            r["alias"],
            r["from_version"],
            r["to_version"],
            parse_datetime(r["at"]) or datetime.now(UTC),
            r["by"],
            r["reason"],
        )
        for r in rows
    ]


def used_by(conn: SqlConnection, dataset: str, version: int) -> dict[str, list[dict[str, Any]]]:
    """Model versions and runs that consumed a dataset version."""
    model_rows = conn.execute(
        "SELECT m.name, v.number, d.role, v.run_id FROM model_datasets d"
        " JOIN model_versions v ON v.id = d.model_version_id JOIN models m ON m.id = v.model_id"
        " WHERE d.dataset = :ds AND d.version = :v ORDER BY m.name, v.number",
        {"ds": dataset, "v": version},
    )
    run_rows = conn.execute(
        "SELECT r.id, r.status, r.started_at FROM run_inputs i JOIN runs r ON r.id = i.run_id"
        " WHERE i.dataset = :ds AND i.version = :v ORDER BY r.started_at",
        {"ds": dataset, "v": version},
    )
    return {
        "models": [
            {"ref": f"{r['name']}@{r['number']}", "role": r["role"], "run": r["run_id"]}
            for r in model_rows
        ],
        "runs": [
            {
                "run": r["id"],
                "status": r["status"],
                "started_at": (parse_datetime(r["started_at"]) or datetime.now(UTC)).isoformat(),
            }
            for r in run_rows
        ],
    }

"""Lineage of a model version, read from the DB: run -> commit -> steps -> datasets -> files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlcd.registry.entities import ModelVersion

if TYPE_CHECKING:
    from mlcd.workspace import Workspace


def lineage(ws: Workspace, version: ModelVersion) -> dict[str, Any]:
    """A tree a person or a tool can walk: every node names what it is and its content id."""
    tree: dict[str, Any] = {
        "model": version.ref,
        "flavor": version.flavor,
        "artifact": version.artifact,
        "created_at": version.created_at.isoformat(),
        "created_by": version.created_by,
        "seed": version.seed,
        "params": version.params,
        "env_lock": version.env_lock,
        "git": version.git,
        "run": None,
        "datasets": [],
    }
    if version.run_id:
        run = ws.get_run(version.run_id)
        tree["run"] = {
            "id": run.id,
            "status": run.status,
            "command": run.command,
            "started_at": run.started_at.isoformat(),
            "steps": [
                {
                    "step": s.step,
                    "status": s.status,
                    "key": s.key,
                    "outputs": {k: o.get("blob") for k, o in s.outputs.items()},
                }
                for s in run.steps
            ],
        }
    for use in version.datasets:
        dv = ws.version(use.ref, with_files=True)
        tree["datasets"].append(
            {
                "dataset": use.ref,
                "role": use.role,
                "content_id": use.content_id,
                "rows": dv.rows,
                "files": [
                    {"path": f.path, "blob": f.blob, "rows": f.rows, "partition": f.partition}
                    for f in dv.files
                ],
            }
        )
    return tree

"""Registering a model version, and loading one back with every blob verified.

The artifact folder is written and stored first; the version row, its lineage and its event
are committed in one transaction after that, so a failure leaves nothing half-registered.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcd.errors import ArtifactError, NotFoundError
from mlcd.identity import current_user
from mlcd.names import Ref, parse_ref, validate_name, validate_role
from mlcd.registry import catalog, flavors
from mlcd.registry.entities import DatasetUse, ModelVersion

if TYPE_CHECKING:
    from mlcd.workspace import Workspace


@dataclass(frozen=True)
class Lineage:
    """Where a model came from: the run (with its commit, params, seed, env) and its data."""

    run_id: str | None = None
    step: str | None = None
    git: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    seed: int | None = None
    env_lock: str | None = None
    datasets: tuple[DatasetUse, ...] = ()


def lineage_of_run(ws: Workspace, run_id: str, roles: Mapping[str, str]) -> Lineage:
    """Lineage from a run record: its commit, params, seed, env and pinned datasets."""
    run = ws.get_run(run_id)
    datasets = tuple(
        DatasetUse(
            p["ref"].split("@")[0],
            int(p["ref"].split("@")[1]),
            p["content_id"],
            roles.get(p["ref"].split("@")[0], "input"),
        )
        for p in run.inputs.values()
    )
    return Lineage(run.id, None, run.git, run.params, run.seed, run.env_lock, datasets)


def explicit_datasets(ws: Workspace, refs: Mapping[str, str]) -> tuple[DatasetUse, ...]:
    """Dataset versions named by the user (`{"sales@3": "train"}`), resolved to content ids."""
    uses = []
    for ref, role in refs.items():
        v = ws.version(ref)
        uses.append(DatasetUse(v.name, v.number, v.content_id, role))
    return tuple(uses)


def register(
    ws: Workspace,
    name: str,
    model: Any,
    *,
    flavor: str | None = None,
    example: Any = None,
    metrics: Mapping[str, float] | None = None,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
    lineage: Lineage | None = None,
    trust: Sequence[str] = (),
) -> ModelVersion:
    """Store a model (object, or file/folder path) as the next version of `name`."""
    from mlcd.events.log import MODEL_REGISTERED, emit
    from mlcd.pipeline.files import store_path

    validate_name(name, "model")
    lineage = lineage or Lineage()
    for use in lineage.datasets:
        validate_role(use.role, use.dataset)
    scratch = ws.state / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="register-", dir=scratch))
    try:
        flavor, native = _write_artifact(model, flavor, folder, example)
        trusted = sorted(set(trust))
        skops_file = flavors.find(folder, ".skops")
        if skops_file is not None:
            flavors.check_trusted(skops_file, trusted)
            if native is None:
                native = flavors.load(flavor, folder, trusted)
        if flavor == "torch":
            # the TorchScript as it will be served: the signature and ONNX twin come from it
            native = flavors.complete_torch(folder)
        signature, conversion = _signature_and_twin(flavor, native, example, folder)
        signature["trusted_types"] = trusted
        stored = store_path(ws.store, folder.parent, folder.name, None)
        example_blob = _store_example(ws, example)
        onnx_blob = ws.store.put_bytes(conversion.model).blob if conversion.model else None
        version = ModelVersion(
            name=name,
            number=0,
            flavor=flavor,
            artifact=stored.blob,
            files=stored.files,
            bytes=stored.size,
            signature=signature,
            example=example_blob,
            onnx=onnx_blob,
            onnx_parity=conversion.parity,
            onnx_serving=conversion.serving,
            metrics={k: float(v) for k, v in (metrics or {}).items()},
            tags={k: str(v) for k, v in (tags or {}).items()},
            description=description,
            run_id=lineage.run_id,
            step=lineage.step,
            git=lineage.git,
            params=lineage.params or {},
            seed=lineage.seed,
            env_lock=lineage.env_lock,
            created_at=datetime.now(UTC),
            created_by=current_user(),
            datasets=lineage.datasets,
        )
        with ws.db.sql(write=True) as conn:
            mid = catalog.ensure_model(conn, name)
            number = catalog.next_number(conn, mid)
            version = _numbered(version, number)
            catalog.insert_version(conn, mid, version)
            emit(
                conn,
                MODEL_REGISTERED,
                version.ref,
                {
                    "model": name,
                    "version": number,
                    "flavor": flavor,
                    "run": lineage.run_id,
                    "datasets": [d.ref for d in lineage.datasets],
                },
            )
        return version
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _numbered(version: ModelVersion, number: int) -> ModelVersion:
    from dataclasses import replace

    return replace(version, number=number)


def _write_artifact(model: Any, flavor: str | None, folder: Path, example: Any) -> tuple[str, Any]:
    """Write the artifact; returns the flavor and the in-memory model when there is one."""
    if isinstance(model, str | Path):
        path = Path(model)
        detected = flavors.detect_path(path)
        if flavor is not None and flavor not in flavors.FLAVORS:
            raise ArtifactError(f"unknown flavor {flavor!r}", hint=f"flavors: {flavors.FLAVORS}")
        flavors.copy_path(path, folder)
        return flavor or detected, None
    flavor = flavor or flavors.detect_object(model)
    flavors.save(model, flavor, folder, example)
    return flavor, model


def _signature_and_twin(
    flavor: str, native: Any, example: Any, folder: Path
) -> tuple[dict[str, Any], Any]:
    from mlcd.registry.onnx import Conversion, convert_sklearn, convert_torch
    from mlcd.registry.signature import describe

    signature: dict[str, Any] = {"inputs": None, "outputs": None}
    conversion = Conversion(None, None, False, "no ONNX twin for this flavor")
    if example is not None:
        signature["inputs"] = describe(example)
        if native is not None and callable(getattr(native, "predict", None)):
            try:
                signature["outputs"] = describe(native.predict(example))
            except Exception as exc:  # a model that cannot score its own example is suspect
                raise ArtifactError(
                    f"the model cannot predict on the example input: {type(exc).__name__}: {exc}",
                    hint="pass an example with the columns and dtypes the model was trained on",
                ) from exc
    if flavor == "torch":
        signature["torchscript"] = flavors.torchscript_info(folder)
        if example is not None:
            signature["inputs"], signature["outputs"] = flavors.torch_signature(native, example)
    if flavor == "sklearn" and native is not None:
        conversion = convert_sklearn(native, example)
        if conversion.model is not None:
            (folder / "model.onnx").write_bytes(conversion.model)
    elif flavor == "torch":
        conversion = convert_torch(native, example)
        if conversion.model is not None:
            (folder / "model.onnx").write_bytes(conversion.model)
    elif flavor == "onnx":
        conversion = Conversion(None, 0.0, True, "the model is ONNX")
    signature["onnx"] = {"note": conversion.note, "parity": conversion.parity}
    return signature, conversion


def _store_example(ws: Workspace, example: Any) -> str | None:
    if example is None:
        return None
    from mlcd.registry.signature import example_bytes

    return ws.store.put_bytes(example_bytes(example)).blob


def get_version(ws: Workspace, ref: str) -> ModelVersion:
    with ws.db.sql() as conn:
        return catalog.resolve(conn, parse_ref(ref, "model", aliases=True))


def load(
    ws: Workspace, ref: str | ModelVersion, use_onnx: bool = False, state_dict: bool = False
) -> Any:
    """The native model of a version (or its ONNX twin, or a torch version's state dict, loaded
    as tensors only); every blob is verified on the way."""
    from mlcd.pipeline.files import StoredPath, tree_files

    version = ref if isinstance(ref, ModelVersion) else get_version(ws, ref)
    if use_onnx:
        if version.onnx is None:
            raise NotFoundError(f"{version.ref} has no ONNX twin")
        import onnx

        return onnx.load_from_string(ws.store.get_bytes(version.onnx))
    target = ws.state / "tmp" / f"load-{uuid.uuid4().hex}"
    try:
        tree = StoredPath("", "dir", version.artifact, version.files, version.bytes)
        for rel, blob, _ in tree_files(ws.store, tree):
            ws.store.get_file(blob, target / rel)
        return flavors.load(version.flavor, target, version.trusted_types, state_dict)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def _ref(name: str, version: int) -> Ref:
    return Ref(name, version)

"""Flavors: how each kind of model is written to an artifact folder and read back, safely.

sklearn  model.skops (skops: loading never runs arbitrary code) + model.onnx when convertible
onnx     model.onnx
torch    model.pt (TorchScript) + state_dict.pt (tensors only, loaded with weights_only)
pyfunc   model.skops of an object with predict(DataFrame), + pyfunc.json naming its class

Pickle files are refused: loading one can run any code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from mlcd.errors import ArtifactError

FLAVORS = ("sklearn", "onnx", "torch", "pyfunc")
_PICKLES = (".pkl", ".pickle", ".joblib")


def detect_object(model: Any) -> str:
    """The flavor of an in-memory model."""
    kind = type(model)
    modules = [c.__module__ for c in kind.__mro__]
    if any(m.startswith("sklearn") for m in modules):
        return "sklearn"
    if any(m.startswith("torch.nn") or m.startswith("torch.jit") for m in modules):
        return "torch"
    if kind.__module__.startswith("onnx") and hasattr(model, "SerializeToString"):
        return "onnx"
    if callable(getattr(model, "predict", None)):
        return "pyfunc"
    raise ArtifactError(
        f"cannot tell the flavor of a {kind.__module__}.{kind.__qualname__}",
        hint="register a scikit-learn estimator, a torch module, an ONNX model, or an object "
        "with predict(DataFrame); or pass flavor=",
    )


def detect_path(path: Path) -> str:
    """The flavor of an artifact file or folder on disk."""
    if not path.exists():
        raise ArtifactError(f"model path {path} does not exist")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    names = {p.name for p in files}
    suffixes = {p.suffix.lower() for p in files}
    if suffixes & set(_PICKLES):
        raise ArtifactError(
            f"{path} holds a pickle file, which mlcd does not register: loading one runs any code",
            hint="save scikit-learn models with skops: skops.io.dump(model, 'model.skops')",
        )
    if "pyfunc.json" in names:
        return "pyfunc"
    if ".skops" in suffixes:
        return "sklearn"
    if suffixes & {".pt", ".pth"}:
        return "torch"
    if ".onnx" in suffixes:
        return "onnx"
    raise ArtifactError(
        f"cannot tell the flavor of {path}",
        hint="expected a .skops (scikit-learn), .onnx, .pt (TorchScript) file, or pass --flavor",
    )


def untrusted_types(skops_file: Path) -> list[str]:
    import skops.io as sio

    try:
        return sorted(sio.get_untrusted_types(file=skops_file))
    except Exception as exc:  # skops raises zipfile/json errors for a corrupt file
        raise ArtifactError(f"{skops_file.name} is not a readable skops file: {exc}") from exc


def check_trusted(skops_file: Path, trusted: list[str]) -> None:
    """Refuse a skops file holding types nobody vouched for; name them and say how to trust."""
    unknown = [t for t in untrusted_types(skops_file) if t not in trusted]
    if unknown:
        flags = " ".join(f"--trust {t}" for t in unknown)
        raise ArtifactError(
            f"{skops_file.name} holds types skops does not trust by default: {', '.join(unknown)}",
            hint=f"if you made this model yourself, register it with {flags} "
            "(Python: trust=[...]); only trust types you have reviewed",
        )


def save(model: Any, flavor: str, folder: Path, example: Any = None) -> None:
    """Write an in-memory model to `folder` in its flavor's safe format."""
    folder.mkdir(parents=True, exist_ok=True)
    if flavor in ("sklearn", "pyfunc"):
        import skops.io as sio

        sio.dump(model, folder / "model.skops")
        if flavor == "pyfunc":
            kind = type(model)
            (folder / "pyfunc.json").write_text(
                json.dumps({"class": f"{kind.__module__}:{kind.__qualname__}"})
            )
    elif flavor == "onnx":
        (folder / "model.onnx").write_bytes(model.SerializeToString())
    elif flavor == "torch":
        _save_torch(model, folder, example)
    else:
        raise ArtifactError(f"unknown flavor {flavor!r}", hint=f"flavors: {', '.join(FLAVORS)}")


def _save_torch(model: Any, folder: Path, example: Any) -> None:
    import torch

    model.eval()
    try:
        scripted = torch.jit.script(model)
    except Exception:  # not scriptable (dynamic Python): trace it on the example instead
        if example is None:
            raise ArtifactError(
                "this torch module cannot be scripted; give an example input to trace it"
            ) from None
        scripted = torch.jit.trace(model, torch.as_tensor(example))
    scripted.save(str(folder / "model.pt"))
    torch.save(model.state_dict(), folder / "state_dict.pt")


def copy_path(path: Path, folder: Path) -> None:
    """Copy an artifact file or folder from disk into the artifact folder."""
    folder.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        shutil.copy2(path, folder / path.name)
    else:
        shutil.copytree(path, folder, dirs_exist_ok=True)


def find(folder: Path, suffix: str) -> Path | None:
    hits = sorted(folder.rglob(f"*{suffix}"))
    return hits[0] if hits else None


def load(flavor: str, folder: Path, trusted: list[str]) -> Any:
    """Read a model back from its (verified) artifact folder."""
    if flavor in ("sklearn", "pyfunc"):
        import skops.io as sio

        path = find(folder, ".skops")
        if path is None:
            raise ArtifactError(f"the artifact has no .skops file in {folder}")
        check_trusted(path, trusted)
        return sio.load(path, trusted=trusted or None)
    if flavor == "onnx":
        import onnx

        path = find(folder, ".onnx")
        if path is None:
            raise ArtifactError("the artifact has no .onnx file")
        return onnx.load(str(path))
    if flavor == "torch":
        import torch

        path = find(folder, ".pt")
        if path is None:
            raise ArtifactError("the artifact has no .pt file")
        return torch.jit.load(str(path), map_location="cpu")
    raise ArtifactError(f"unknown flavor {flavor!r}")

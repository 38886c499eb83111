"""Flavors: how each kind of model is written to an artifact folder and read back, safely.

sklearn  model.skops (skops: loading never runs arbitrary code) + model.onnx when convertible
onnx     model.onnx
torch    model.pt (TorchScript: scripted, or traced on the example; torchscript.json says
         which) + state_dict.pt (tensors only, loaded with weights_only) + model.onnx when the
         export works (see onnx.py)
pyfunc   model.skops of an object with predict(DataFrame), + pyfunc.json naming its class

Pickle files are refused: loading one can run any code.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlcd.errors import ArtifactError

FLAVORS = ("sklearn", "onnx", "torch", "pyfunc")
_PICKLES = (".pkl", ".pickle", ".joblib")
STATE_DICT = "state_dict.pt"
TORCHSCRIPT_INFO = "torchscript.json"


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
        from mlcd.zips import normalize

        normalize(folder / "model.skops")  # the same model gives the same artifact
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

    if not isinstance(model, torch.nn.Module):
        raise ArtifactError(
            f"a {type(model).__qualname__} is not a torch.nn.Module",
            hint="register the module itself, or a TorchScript file (.pt)",
        )
    was_training = model.training
    model.eval()
    try:
        with quiet_torch():
            compiled, how = _script_or_trace(model, example)
            compiled.save(str(folder / "model.pt"))
        torch.save(model.state_dict(), folder / STATE_DICT)
        (folder / TORCHSCRIPT_INFO).write_text(json.dumps(how))
    finally:
        model.train(was_training)


def _script_or_trace(model: Any, example: Any) -> tuple[Any, dict[str, Any]]:
    """TorchScript keeps control flow, so it comes first; tracing records one path through
    forward() on the example, the fallback for Python TorchScript cannot compile. Returns the
    compiled module and how it was made (kept in torchscript.json and the signature)."""
    import torch

    try:
        return torch.jit.script(model), {"method": "script"}
    except Exception as exc:  # TorchScript raises many kinds for Python it cannot compile
        reason = _first_line(exc)
    name = type(model).__qualname__
    if example is None:
        raise ArtifactError(
            f"the torch module {name} cannot be scripted ({reason}), and without an example "
            "input it cannot be traced",
            hint="pass example= (a batch of inputs) to trace it, or make forward() scriptable",
        )
    tensor = torch_input(example, model)
    tracer_warning: type[Warning] = torch.jit.TracerWarning  # type: ignore[attr-defined]
    try:
        with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", tracer_warning)
            # check_trace would import torch.distributed (seconds) to compare outputs: done below
            traced = torch.jit.trace(model, tensor, check_trace=False)  # type: ignore[no-untyped-call]
    except Exception as exc:  # the tracer raises RuntimeError and others for non-tensor I/O
        raise ArtifactError(
            f"the torch module {name} can be neither scripted ({reason}) nor traced on the "
            f"example ({_first_line(exc)})",
            hint="make forward() take and return tensors, or register a TorchScript file "
            "(.pt) you saved yourself",
        ) from exc
    replayed, original = run_torch(traced, tensor), run_torch(model, tensor)
    if len(replayed) != len(original) or not all(
        a.shape == b.shape and torch.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)
        for a, b in zip(replayed, original, strict=False)
    ):
        raise ArtifactError(
            f"the trace of the torch module {name} does not reproduce its output on the example",
            hint="make forward() deterministic in eval mode, or make it scriptable",
        )
    # a TracerWarning means the trace may not generalise (a branch or a size was frozen):
    # the user sees them, and the version records them
    tracer = [w for w in caught if issubclass(w.category, tracer_warning)]
    for w in tracer:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    notes = sorted({str(w.message).split(".")[0] for w in tracer})
    return traced, {"method": "trace", "script_error": reason, "tracer_warnings": notes}


def torchscript_info(folder: Path) -> dict[str, Any]:
    """How the TorchScript of a torch artifact was made: scripted, traced (with why and what the
    tracer warned about), or registered as a file."""
    path = folder / TORCHSCRIPT_INFO
    if not path.is_file():
        return {"method": "file"}
    info: dict[str, Any] = json.loads(path.read_text())
    return info


@contextmanager
def quiet_torch() -> Iterator[None]:
    """Silence torch's deprecation notices for TorchScript and its ONNX exporter: they are the
    formats mlcd stores, and nothing the user does would make the warnings go away."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        yield


def torch_input(example: Any, model: Any = None) -> Any:
    """The example as a CPU tensor. A tensor is taken as it is; an array or DataFrame of floats
    gets the dtype of the model's parameters (numpy's float64 would not match float32 weights)."""
    import numpy as np
    import torch

    if isinstance(example, torch.Tensor):
        return example.detach().cpu()
    array = np.asarray(example.to_numpy() if hasattr(example, "columns") else example)
    if array.dtype.kind not in "biuf":
        raise ArtifactError(
            f"the example input ({array.dtype}) cannot become a torch tensor",
            hint="pass a numeric tensor or array as the example",
        )
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.is_floating_point() and model is not None:
        weights = [p for p in model.parameters() if p.is_floating_point()]
        tensor = tensor.to(weights[0].dtype if weights else torch.get_default_dtype())
    return tensor


def run_torch(model: Any, tensor: Any) -> list[Any]:
    """The model's outputs on `tensor`, in eval mode without gradients, as a list of tensors."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), quiet_torch():
            out = model(tensor)
    except Exception as exc:  # a model that cannot score its own example is suspect
        raise ArtifactError(
            f"the model cannot run on the example input: {type(exc).__name__}: {_first_line(exc)}",
            hint="pass an example with the shape and dtype the model takes",
        ) from exc
    finally:
        model.train(was_training)
    outputs = list(out) if isinstance(out, tuple | list) else [out]
    if not outputs or not all(isinstance(o, torch.Tensor) for o in outputs):
        raise ArtifactError(
            f"the model's forward() returned {type(out).__name__}, not a tensor or a tuple of them",
            hint="registered torch models take a tensor and return tensors",
        )
    return [o.detach().cpu() for o in outputs]


def torch_signature(model: Any, example: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Input and output of a torch model: shapes with a free batch dimension, and dtypes."""
    from mlcd.registry.signature import describe

    tensor = torch_input(example, model)
    outputs = run_torch(model, tensor)
    if len(outputs) == 1:
        return describe(tensor), describe(outputs[0])
    return describe(tensor), {"type": "tuple", "items": [describe(o) for o in outputs]}


def complete_torch(folder: Path) -> Any:
    """The TorchScript module of a torch artifact, refusing anything else; a bare TorchScript
    file gets its state dict written beside it, so every torch version has both."""
    import torch

    module = _load_torch(folder, state_dict=False)
    weights = folder / STATE_DICT
    if weights.is_file():
        _load_torch(folder, state_dict=True)  # refuse now what could not load later
    else:
        torch.save(module.state_dict(), weights)
    return module


def _torchscript_file(folder: Path) -> Path:
    if (folder / "model.pt").is_file():
        return folder / "model.pt"
    found = sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in (".pt", ".pth") and p.name != STATE_DICT and p.is_file()
    )
    if len(found) == 1:
        return found[0]
    if not found:
        raise ArtifactError(
            "the torch artifact has no TorchScript file (.pt)",
            hint="save one with torch.jit.script(model).save('model.pt'), or register the "
            "nn.Module itself; a state dict alone has no architecture",
        )
    raise ArtifactError(
        f"the torch artifact holds several .pt files and none is model.pt: "
        f"{', '.join(p.name for p in found)}",
        hint="name the TorchScript file model.pt",
    )


def _load_torch(folder: Path, state_dict: bool) -> Any:
    import torch

    if state_dict:
        path = folder / STATE_DICT
        if not path.is_file():
            raise ArtifactError(f"the torch artifact has no {STATE_DICT}")
        try:
            # weights_only: tensors and plain containers, never arbitrary pickled objects
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle.UnpicklingError for anything beyond tensors
            raise ArtifactError(
                f"{STATE_DICT} does not load as tensors only: {_first_line(exc)}",
                hint="save it with torch.save(model.state_dict(), 'state_dict.pt')",
            ) from exc
    path = _torchscript_file(folder)
    try:
        with quiet_torch():
            return torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
    except Exception as exc:  # RuntimeError from the archive reader for anything else
        raise ArtifactError(
            f"{path.name} is not a TorchScript file: {_first_line(exc)}",
            hint="save one with torch.jit.script(model).save('model.pt'), or register the "
            "nn.Module itself; pickled modules and bare state dicts are not registered",
        ) from exc


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:200]


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


def load(flavor: str, folder: Path, trusted: list[str], state_dict: bool = False) -> Any:
    """Read a model back from its (verified) artifact folder; `state_dict` (torch only) gives
    the weights instead of the TorchScript module."""
    if state_dict and flavor != "torch":
        raise ArtifactError(f"a {flavor} model has no state dict", hint="only torch models do")
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
        return _load_torch(folder, state_dict)
    raise ArtifactError(f"unknown flavor {flavor!r}")

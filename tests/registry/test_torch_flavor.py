"""The torch flavor on real modules: TorchScript + state dict + ONNX twin, stored and loaded back,
signatures from the example, TorchScript files from disk, and modules that cannot be stored."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlcd.errors import ArtifactError
from mlcd.pipeline.files import StoredPath, tree_files
from mlcd.registry import flavors
from mlcd.registry import onnx as onnx_module
from mlcd.registry.entities import ModelVersion
from mlcd.registry.register import load
from mlcd.workspace import Workspace

torch = pytest.importorskip("torch")  # CI installs the `torch` extra, so these run there
nn = torch.nn


def mlp(seed: int = 0) -> Any:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


class Gated(nn.Module):  # type: ignore[misc]
    """Data-dependent control flow: tracing would record one branch, scripting keeps both."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.up = nn.Linear(4, 2)
        self.down = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool(x.sum() > 0):
            return self.up(x)
        return self.down(x) * 10.0


class VarArgs(nn.Module):  # type: ignore[misc]
    """TorchScript cannot compile *args; tracing on an example can."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.linear = nn.Linear(4, 2)

    def forward(self, *xs: Any) -> Any:
        return self.linear(xs[0])


class VarArgsGated(VarArgs):
    """Not scriptable, and with a branch on the data: the trace freezes the branch taken."""

    def forward(self, *xs: Any) -> Any:
        out = self.linear(xs[0])
        return out if bool(xs[0].sum() > 0) else -out


class ReturnsLambda(nn.Module):  # type: ignore[misc]
    """Neither scriptable (a lambda) nor traceable (returns a function)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, x: Any) -> Any:
        return self.linear(x), lambda: 1


def save_torchscript(model: Any, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated in 2.9+
        torch.jit.script(model).save(str(path))


def artifact_names(ws: Workspace, version: ModelVersion) -> list[str]:
    tree = StoredPath("", "dir", version.artifact, version.files, version.bytes)
    return sorted(rel for rel, _, _ in tree_files(ws.store, tree))


def onnx_outputs(ws: Workspace, ref: str, x: Any) -> Any:
    import onnxruntime as ort

    proto = ws.load_model(ref, onnx=True)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


def assert_nothing_registered(ws: Workspace) -> None:
    assert ws.models() == []
    scratch = ws.root / ".mlcd" / "tmp"
    assert not scratch.exists() or list(scratch.iterdir()) == []


def test_mlp_round_trip_twin_and_signature(ws: Workspace) -> None:
    model = mlp()
    model.train()
    example = torch.randn(8, 4)
    v = ws.register_model("net", model, example=example)

    assert v.flavor == "torch"
    assert artifact_names(ws, v) == ["model.onnx", "model.pt", "state_dict.pt", "torchscript.json"]
    assert v.signature["torchscript"] == {"method": "script"}
    assert model.training  # registering does not leave the caller's module in eval mode
    loaded = ws.load_model("net@1")
    assert isinstance(loaded, torch.jit.ScriptModule)
    fresh = torch.randn(50, 4)
    with torch.no_grad():
        assert torch.allclose(loaded(fresh), model.eval()(fresh), atol=1e-6)

    assert v.onnx is not None and v.onnx_serving
    assert v.onnx_parity is not None and v.onnx_parity <= onnx_module.ATOL + onnx_module.RTOL
    assert "max abs difference" in v.signature["onnx"]["note"]
    # the twin has a free batch axis: other batch sizes than the example's run too
    for rows in (1, 33):
        x = torch.randn(rows, 4)
        with torch.no_grad():
            expected = model(x).numpy()
        np.testing.assert_allclose(onnx_outputs(ws, "net@1", x), expected, atol=1e-5)

    assert v.signature["inputs"] == {"type": "tensor", "shape": [None, 4], "dtype": "torch.float32"}
    assert v.signature["outputs"] == {
        "type": "tensor",
        "shape": [None, 3],
        "dtype": "torch.float32",
    }
    assert ws.model("net@1").signature == v.signature  # as stored, not only as returned


def test_control_flow_is_scripted_not_traced(ws: Workspace) -> None:
    model = Gated().eval()
    example = torch.rand(6, 4)  # positive sum: only the `up` branch runs on the example
    v = ws.register_model("gated", model, example=example)
    loaded = ws.load_model("gated@latest")

    negative = -torch.rand(20, 4)  # the branch the example never took
    positive = torch.rand(20, 4)
    with torch.no_grad():
        for x in (negative, positive):
            assert torch.allclose(loaded(x), model(x), atol=1e-6)
            np.testing.assert_allclose(onnx_outputs(ws, "gated@1", x), model(x).numpy(), atol=1e-5)
        assert not torch.allclose(model.up(negative), model(negative))  # the branches differ
    assert v.onnx_serving


def test_unscriptable_module_is_traced_on_the_example(ws: Workspace) -> None:
    model = VarArgs().eval()
    v = ws.register_model("varargs", model, example=np.random.default_rng(0).normal(size=(5, 4)))
    loaded = ws.load_model("varargs@1")
    x = torch.randn(9, 4)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-6)
    # a float64 array example becomes a tensor of the weights' dtype
    assert v.signature["inputs"]["dtype"] == "torch.float32"
    assert v.onnx_serving
    how = v.signature["torchscript"]
    assert how["method"] == "trace" and how["tracer_warnings"] == []
    assert "variable number of arguments" in how["script_error"]


def test_a_trace_that_froze_a_branch_is_reported(ws: Workspace) -> None:
    with pytest.warns(torch.jit.TracerWarning, match="Python boolean"):
        v = ws.register_model("frozen", VarArgsGated(), example=torch.rand(3, 4))
    how = v.signature["torchscript"]
    assert how["method"] == "trace"
    assert any("Python boolean" in w for w in how["tracer_warnings"])


def test_unscriptable_module_without_example_is_a_clear_error(ws: Workspace) -> None:
    with pytest.raises(ArtifactError) as info:
        ws.register_model("varargs", VarArgs())
    assert "VarArgs cannot be scripted" in info.value.message
    assert info.value.hint is not None and "example=" in info.value.hint
    assert_nothing_registered(ws)


def test_module_neither_scriptable_nor_traceable_is_a_clear_error(ws: Workspace) -> None:
    with pytest.raises(ArtifactError, match=r"can be neither scripted .* nor traced"):
        ws.register_model("odd", ReturnsLambda(), example=torch.randn(3, 4))
    assert_nothing_registered(ws)


def test_state_dict_round_trip(ws: Workspace) -> None:
    model = mlp(seed=3)
    ws.register_model("net", model, example=torch.randn(4, 4))
    weights = load(ws, "net@1", state_dict=True)

    original = model.state_dict()
    assert list(weights) == list(original)
    assert all(torch.equal(weights[k], original[k]) for k in original)
    rebuilt = mlp(seed=99)  # other initial weights, replaced by the registered ones
    rebuilt.load_state_dict(weights)
    x = torch.randn(7, 4)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_only_torch_versions_have_a_state_dict(tmp_path: Path) -> None:
    for flavor in ("sklearn", "onnx", "pyfunc"):
        with pytest.raises(ArtifactError, match=f"a {flavor} model has no state dict"):
            flavors.load(flavor, tmp_path, [], state_dict=True)


def test_register_torchscript_file(ws: Workspace, tmp_path: Path) -> None:
    model = mlp(seed=4).eval()
    path = tmp_path / "net.pt"
    save_torchscript(model, path)

    v = ws.register_model("net", path, example=torch.randn(6, 4))
    assert v.flavor == "torch"
    # the state dict is written from the TorchScript, so every torch version has both
    assert artifact_names(ws, v) == ["model.onnx", "net.pt", "state_dict.pt"]
    assert v.signature["torchscript"] == {"method": "file"}
    x = torch.randn(10, 4)
    with torch.no_grad():
        assert torch.allclose(ws.load_model("net@1")(x), model(x), atol=1e-6)
    weights = load(ws, "net@1", state_dict=True)
    assert all(torch.equal(weights[k], t) for k, t in model.state_dict().items())
    assert v.onnx_serving
    assert v.signature["outputs"]["shape"] == [None, 3]

    bare = ws.register_model("net", path)  # no example: no signature, no twin, still loadable
    assert bare.number == 2 and bare.onnx is None and not bare.onnx_serving
    assert bare.signature["inputs"] is None
    assert "no example" in bare.signature["onnx"]["note"]
    with torch.no_grad():
        assert torch.allclose(ws.load_model("net@2")(x), model(x), atol=1e-6)


def test_pickled_module_file_is_refused(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "whole.pt"
    torch.save(mlp(), path)  # a pickle of the module, not TorchScript
    with pytest.raises(ArtifactError, match=r"whole\.pt is not a TorchScript file"):
        ws.register_model("net", path)
    assert_nothing_registered(ws)


def test_state_dict_holding_objects_is_refused(ws: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "artifact"
    folder.mkdir()
    model = mlp()
    save_torchscript(model, folder / "model.pt")
    # a state dict that carries an arbitrary object: loading it would need a full unpickle
    torch.save({"weights": model.state_dict(), "extra": Path("x")}, folder / "state_dict.pt")
    with pytest.raises(ArtifactError, match=r"state_dict\.pt does not load as tensors only"):
        ws.register_model("net", folder)
    assert_nothing_registered(ws)


def test_twin_beyond_tolerance_is_kept_but_not_served(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_module, "ATOL", -1.0)  # no difference, not even 0, is within
    v = ws.register_model("net", mlp(), example=torch.randn(4, 4))
    assert v.onnx is not None and not v.onnx_serving
    assert v.onnx_parity is not None and v.onnx_parity < 1e-5
    assert v.signature["onnx"]["note"].endswith("beyond tolerance, not served")


def test_torch_is_imported_lazily() -> None:
    code = (
        "import sys, mlcd, mlcd.registry.flavors, mlcd.registry.onnx, mlcd.registry.register;"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"

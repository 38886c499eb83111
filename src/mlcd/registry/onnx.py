"""The ONNX twin of a scikit-learn or torch model, and how far its outputs are from the original.

A twin that disagrees with the native model beyond tolerance is kept for inspection but never
used for serving: a fast wrong answer is worse than a slow right one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ATOL = 1e-4  # float32 arithmetic in ONNX Runtime vs float64 in scikit-learn
RTOL = 1e-4


@dataclass(frozen=True)
class Conversion:
    model: bytes | None
    parity: float | None  # max abs difference of predictions on the example
    serving: bool
    note: str


def numeric_matrix(example: Any) -> Any:
    """The example as a float32 matrix, or None when it is not all numeric."""
    import numpy as np

    if hasattr(example, "columns"):
        # pandas' own checks: np.issubdtype raises TypeError on extension dtypes, such as
        # the string dtype pandas 3 gives text columns
        from pandas.api.types import is_bool_dtype, is_numeric_dtype

        if not all(is_numeric_dtype(t) or is_bool_dtype(t) for t in example.dtypes):
            return None
        example = example.to_numpy()
    array = np.asarray(example)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        return None
    return array.astype(np.float32)


def convert_sklearn(model: Any, example: Any) -> Conversion:
    """Convert with skl2onnx and measure parity on `example` (synthetic when none is given)."""
    import numpy as np

    if example is None:
        n = getattr(model, "n_features_in_", None)
        if n is None:
            return Conversion(None, None, False, "no example and no n_features_in_: not converted")
        rng = np.random.default_rng(0)
        matrix = rng.normal(size=(64, int(n))).astype(np.float32)
        synthetic = True
    else:
        matrix = numeric_matrix(example)
        if matrix is None:
            return Conversion(None, None, False, "example is not all numeric: not converted")
        synthetic = False
    try:
        from skl2onnx import to_onnx

        # probabilities as a plain tensor, not a list of dicts (classifiers only)
        options = {"zipmap": False} if hasattr(model, "predict_proba") else None
        proto = to_onnx(model, matrix[:1], options=options, target_opset=None)
        data = proto.SerializeToString()
    except Exception as exc:  # skl2onnx raises many kinds for unsupported estimators
        return Conversion(
            None, None, False, f"skl2onnx cannot convert: {type(exc).__name__}: {exc}"
        )
    parity = _parity(model, data, matrix, _native_input(model, example, matrix))
    ok = parity is not None and parity <= ATOL + RTOL
    where = "synthetic input" if synthetic else "the example"
    note = f"max abs difference {parity:.3g} on {where}" if parity is not None else "no parity"
    return Conversion(data, parity, ok, note if ok else note + ": beyond tolerance, not served")


def _native_input(model: Any, example: Any, matrix: Any) -> Any:
    """What the native model should see: the example as given, not its float32 cast (only ONNX
    gets that, so parity includes what the cast loses); a DataFrame when the model was fit on
    named columns (scikit-learn warns, or fails, on a bare matrix then)."""
    import numpy as np

    if hasattr(example, "columns"):
        return example
    source = matrix if example is None else np.asarray(example)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        import pandas as pd

        return pd.DataFrame(source, columns=list(names))
    return source


def _parity(model: Any, onnx_model: bytes, matrix: Any, native_input: Any) -> float | None:
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: matrix})
    native = np.asarray(model.predict(native_input))
    ours = np.asarray(outputs[0]).reshape(native.shape)
    if native.dtype.kind in "OUSb" or ours.dtype.kind in "OUSb" or native.dtype.kind in "iu":
        if not np.array_equal(native.astype(str), ours.astype(str)):
            return float("inf")
        if hasattr(model, "predict_proba") and len(outputs) > 1:
            proba = np.asarray(model.predict_proba(native_input), dtype=np.float64)
            return float(np.max(np.abs(proba - np.asarray(outputs[1], dtype=np.float64))))
        return 0.0
    diff = np.abs(native.astype(np.float64) - ours.astype(np.float64))
    scale = np.maximum(1.0, np.abs(native.astype(np.float64)))
    return float(np.max(diff / scale))


def convert_torch(model: Any, example: Any) -> Conversion:
    """Export with torch.onnx (batch axis dynamic) and measure parity against `model` on
    `example`. Pass the TorchScript module that is served: exporting it keeps its control flow,
    where exporting the eager module would trace one path. Without an example nothing is
    exported: the exporter needs an input."""
    if example is None:
        return Conversion(None, None, False, "no example input: not exported to ONNX")
    import tempfile
    import warnings
    from pathlib import Path

    import torch

    from mlcd.registry.flavors import quiet_torch, run_torch, torch_input

    tensor = torch_input(example, model)
    native = [o.numpy() for o in run_torch(model, tensor)]
    names = ["output"] if len(native) == 1 else [f"output_{i}" for i in range(len(native))]
    try:
        with tempfile.TemporaryDirectory() as scratch, quiet_torch(), torch.no_grad():
            # a ScriptModule's forward has no Python signature to inspect; nothing is lost
            warnings.filterwarnings("ignore", "no signature found", UserWarning)
            # dynamo=False: the TorchScript-based exporter, which takes a ScriptModule and needs
            # no onnxscript; the torch.export-based default would need both
            path = Path(scratch) / "model.onnx"
            torch.onnx.export(
                model,
                (tensor,),
                path,
                dynamo=False,
                input_names=["input"],
                output_names=names,
                dynamic_axes={n: {0: "batch"} for n in ["input", *names]},
            )
            data = path.read_bytes()
    except Exception as exc:  # the exporter raises many kinds for unsupported operators
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return Conversion(
            None, None, False, f"torch.onnx cannot export: {type(exc).__name__}: {reason}"
        )
    try:
        parity = _torch_parity(data, tensor.numpy(), native)
    except Exception as exc:  # onnxruntime refuses graphs with operators it does not have
        return Conversion(
            data, None, False, f"onnxruntime cannot run the export: {type(exc).__name__}"
        )
    ok = parity <= ATOL + RTOL
    note = f"max abs difference {parity:.3g} on the example"
    return Conversion(data, parity, ok, note if ok else note + ": beyond tolerance, not served")


def _torch_parity(onnx_model: bytes, matrix: Any, native: list[Any]) -> float:
    """Largest difference between torch's and onnxruntime's outputs, scaled as for
    scikit-learn (relative above 1); integer and boolean outputs must match exactly."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: matrix})
    if len(outputs) != len(native):
        return float("inf")
    worst = 0.0
    for theirs, ours in zip(native, outputs, strict=True):
        got = np.asarray(ours)
        if got.shape != theirs.shape:
            return float("inf")
        if theirs.dtype.kind in "biu" or got.dtype.kind in "biu":
            if not np.array_equal(theirs, got):
                return float("inf")
            continue
        expected = theirs.astype(np.float64)
        diff = np.abs(expected - got.astype(np.float64)) / np.maximum(1.0, np.abs(expected))
        worst = max(worst, float(np.max(diff, initial=0.0)))
    return worst

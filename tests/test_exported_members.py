"""The public API is exactly what mlcd.__all__ names; everything else may be reorganised."""

import mlcd


def test_public_names_are_pinned() -> None:
    assert sorted(mlcd.__all__) == [
        "MlcdError",
        "Workspace",
        "__version__",
        "current_run",
        "inputs",
        "load",
        "load_model",
        "log_metric",
        "log_param",
        "open_workspace",
        "params",
        "register_model",
        "seed_everything",
        "snapshot",
    ]
    for name in mlcd.__all__:
        assert hasattr(mlcd, name)

"""The public API is exactly what mlcd.__all__ names; everything else may be reorganised."""

import mlcd


def test_public_names_are_pinned() -> None:
    assert sorted(mlcd.__all__) == [
        "MlcdError",
        "Workspace",
        "__version__",
        "load",
        "open_workspace",
        "snapshot",
    ]
    for name in mlcd.__all__:
        assert hasattr(mlcd, name)

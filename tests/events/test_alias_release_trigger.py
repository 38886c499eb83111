"""End to end: moving a model alias fires the configured command and webhook exactly once."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from tests.events.conftest import Hooked, Receiver


def test_alias_move_fires_command_and_webhook_once(hooked: Hooked, receiver: Receiver) -> None:
    ws = hooked.configure(
        {
            "alias_moved": [
                "echo {model}@{version} {alias} >> released.txt",
                {"webhook": f"{receiver.url}/release"},
            ],
            "model_registered": "echo registered {model}@{version} >> registered.txt",
        }
    )
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"])
    y = (X["a"] > 0).astype(int)
    v = ws.register_model("churn", LogisticRegression().fit(X, y), example=X.head(5))
    ws.set_alias("churn", "production", v.number, reason="first release")

    first = ws.process_events()
    assert all(r.ok for r in first), [r.error for r in first]
    assert hooked.lines("registered.txt") == ["registered churn@1"]
    assert hooked.lines("released.txt") == ["churn@1 production"]
    posts = receiver.posts("/release")
    assert len(posts) == 1
    assert posts[0]["type"] == "alias_moved"
    assert posts[0]["payload"]["model"] == "churn" and posts[0]["payload"]["version"] == 1

    assert ws.process_events() == []  # processed once: a second pass does nothing
    assert hooked.lines("released.txt") == ["churn@1 production"]
    assert len(receiver.posts("/release")) == 1

"""Events: an append-only log of what happened, and the actions `on:` in mlcd.yaml triggers."""

"""Reproducible pipelines: steps, DAG, content-keyed cache, runner, run records."""

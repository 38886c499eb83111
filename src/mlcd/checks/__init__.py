"""Validation of data and models: checks with measured values, bounds and pass/fail results."""

"""Model registry: versions with safe, portable artifacts, signatures, aliases and lineage."""

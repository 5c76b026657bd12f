"""Exceptions the library raises for bad user input: each message is one line naming the file or key."""

from __future__ import annotations


class KlishError(Exception):
    """Base class: a problem with user input (a file, a key, a value), not a bug."""


class CheckpointError(KlishError):
    """A checkpoint or its sidecar is missing, corrupt, truncated or of the wrong format."""


class FeatureStoreError(KlishError):
    """A feature store is missing, incomplete or inconsistent with its manifest."""


class ConfigError(KlishError):
    """An unknown or invalid name or value (architecture, layer, option)."""

"""Exceptions raised by deepear. Every message names the input and what was wrong with it."""
from __future__ import annotations


class DeepearError(Exception):
    """Base class of every error deepear raises on purpose."""


class AudioError(DeepearError, ValueError):
    """Audio that cannot be used: missing, unreadable, empty, NaN/Inf, too short, unsupported rate."""


class DataError(DeepearError, ValueError):
    """A dataset that is missing or malformed, or a label that no task map knows."""


class ConfigError(DeepearError, ValueError):
    """A malformed configuration or recipe: unknown key, wrong type, impossible value."""


class ExportError(DeepearError):
    """An export that cannot be made: the model does not fit the target, parity checks fail, a tool is missing."""

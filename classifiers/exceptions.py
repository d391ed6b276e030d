"""Errors raised by the classifiers package.

Entrypoints (CLI, HTTP) catch :class:`ClassifierError` and show its message; anything
else is a bug and is allowed to surface.
"""


class ClassifierError(Exception):
    """Base class: a problem the user can fix (bad input, missing model, ...)."""


class DataError(ClassifierError):
    """A training/evaluation/prediction data file is missing or malformed."""


class ModelNotFound(ClassifierError):
    """The model directory does not exist or holds no model."""


class ModelLoadError(ClassifierError):
    """The model directory exists but cannot be read (corrupt or incompatible)."""


class TrainingError(ClassifierError):
    """Training cannot proceed with the given data (e.g. fewer than two labels)."""

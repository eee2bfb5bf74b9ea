"""The one exception hierarchy of the project.

``AutoMLError`` is the base of every error a *user* can cause (bad spec, bad data, missing
file). Its message names what is wrong and how to fix it, and the CLI prints it as one line
with a non-zero exit. Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class AutoMLError(Exception):
    """An error the user can act on. ``str(err)`` is a complete, one-line explanation."""

    exit_code = 2


class SpecError(AutoMLError):
    """The AutoMLJob manifest is invalid."""


class DataError(AutoMLError):
    """The training or test data cannot be used as the spec asks."""


class StorageError(AutoMLError):
    """A location cannot be read or written (missing file, no access, bad URI)."""


class ArtifactError(AutoMLError):
    """A model artifact is missing, corrupted or does not match its expected checksum."""


class SearchFailed(AutoMLError):
    """The search produced no usable candidate (all failed, or too many failed)."""

    exit_code = 3

"""Exceptions that sam2nb raises for bad input or a broken environment.

Every message names the thing that is wrong and says how to fix it.
"""

from __future__ import annotations


class Sam2nbError(Exception):
    """Base class of every error sam2nb raises on purpose."""


class CheckpointError(Sam2nbError):
    """A checkpoint is missing, cannot be downloaded, or is truncated or corrupt."""


class VideoError(Sam2nbError, ValueError):
    """A video, image folder or frame array cannot be opened or read."""


class ModelError(Sam2nbError):
    """A model variant is unknown, or an engine was used after it was unloaded."""


class SessionError(Sam2nbError, ValueError):
    """A session call that cannot be done as asked (the message says why and what to do)."""


class PromptError(Sam2nbError, ValueError):
    """A click or box is outside the image, not a number, or malformed."""


class SessionBusy(SessionError):
    """A prompt or a second propagation was sent while a propagation runs."""


class OutOfMemory(ModelError):
    """The GPU ran out of memory; what was allocated is freed and the session is unchanged."""


class ExportError(Sam2nbError, ValueError):
    """An export cannot be done as asked (bad format, range, objects, or a clashing folder)."""

"""gdei's own exception types.

Each carries the file (and line or record where known) and, where we can give
one, a hint on how to fix the problem.  The CLI turns them into a one-line
message on stderr and exit code 2.
"""

from __future__ import annotations

from pathlib import Path


class GdeiError(Exception):
    """Base class of every error gdei raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        offset: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.offset = offset
        self.hint = hint

    def __reduce__(self) -> tuple[object, ...]:
        """Picklable with its keywords (a worker process or a Dask task sends it back)."""
        return (_rebuild, (type(self), self.message, self.__dict__))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
            elif self.offset is not None:
                where += f" (byte {self.offset})"
            where += ": "
        text = f"{where}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class InputError(GdeiError):
    """A log file cannot be read: unreadable, malformed or of unknown format."""


class UsageError(GdeiError):
    """Options that do not fit together or a value out of range."""


class MetricNotFoundError(GdeiError):
    """The requested (or a default training-loss) metric is not in a run."""


class SchemaError(InputError):
    """A frame handed to the library is not (and cannot be made) a canonical frame."""


def _rebuild(cls: type[GdeiError], message: str, state: dict[str, object]) -> GdeiError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err

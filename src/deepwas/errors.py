"""The exception hierarchy of deepwas.

Every error a user can cause is a :class:`DeepwasError`. Its ``str`` is one line that names the
file, the row or column (or the parameter) and says how to fix the problem; the CLI prints that
line after ``deepwas: error:`` and exits with status 2. Anything else escaping the CLI is a bug:
one line ``deepwas: internal error: ...`` and exit status 1.
"""

from __future__ import annotations

from os import PathLike

__all__ = ["DeepwasError", "InputError", "NumericalError", "StoreError"]


class DeepwasError(Exception):
    """Base class: an error the user can act on.

    Parameters
    ----------
    message:
        What is wrong, without a trailing full stop.
    file:
        The file at fault, if any.
    row:
        1-based line number in ``file`` (counting the header as line 1), if known.
    column:
        The column (or parameter) at fault, if any; a CLI flag (``--weight-decay``) is shown as
        ``option --weight-decay``.
    fix:
        What the user should do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | PathLike[str] | None = None,
        row: int | None = None,
        column: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.row = row
        self.column = column
        self.fix = fix
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file if self.row is None else f"{self.file}:{self.row}")
        elif self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None and self.column.startswith("-"):
            where.append(f"option {self.column}")  # a command-line flag
        elif self.column is not None:
            where.append(f"column '{self.column}'")
        text = (", ".join(where) + ": " if where else "") + self.message
        if self.fix:
            text += f" ({self.fix})"
        return " ".join(text.split())  # always one line


class InputError(DeepwasError):
    """A file or argument that cannot be used as given."""


class StoreError(DeepwasError):
    """An LD store that is missing, corrupt, of another version, or built for other variants."""


class NumericalError(DeepwasError):
    """A matrix or value that makes the computation impossible (non-finite, not PSD, ...)."""

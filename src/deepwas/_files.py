"""Where files are opened: atomic output, and one error boundary for the file system.

Every file or folder deepwas writes is first written under a temporary name beside its target and
renamed into place only when complete, so an error or an interrupt leaves either the old output or
nothing. An output that cannot be made (its parent is a file, a file would replace a folder, no
permission) and an input that cannot be opened or is not text become one
:class:`deepwas.errors.InputError` naming the path and the fix, never a bare ``OSError`` or
``UnicodeDecodeError``. :func:`check_output` runs the output checks alone, so that a command can
refuse a bad ``--out`` before any work. File-format sniffing lives here too: gzip by its magic
bytes in :func:`open_text`, parquet by :func:`is_parquet`.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from deepwas.errors import InputError

__all__ = ["atomic_file", "atomic_dir", "open_text", "is_parquet", "check_output"]

_SNIFF_BYTES = 1 << 16  # how much of a text input is checked to be UTF-8 on opening


def _os_message(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def check_output(path: str | os.PathLike[str], *, directory: bool) -> None:
    """Raise :class:`InputError` if ``path`` cannot be written as an output; create nothing.

    Parameters
    ----------
    path:
        The output file (``directory=False``) or folder (``directory=True``).

    Raises
    ------
    InputError
        When an existing ``path`` is a folder but a file is wanted (or the reverse), when a parent
        of ``path`` is a regular file, or when the nearest existing parent is not writable.
    """
    path = Path(path)
    if path.is_dir() and not directory:
        raise InputError("is a folder, not a file", file=path, fix="give a file name")
    if path.exists() and not path.is_dir() and directory:
        raise InputError(
            "exists and is a file, not a folder",
            file=path,
            fix="give a folder name, or remove the file",
        )
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(
            f"cannot be created: {parent} is a file, not a folder",
            file=path,
            fix="choose an output under a folder",
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(
            f"cannot be created: no permission to write in {parent}",
            file=path,
            fix="choose an output in a folder you can write to",
        )


def _make_parent(path: Path, *, directory: bool) -> None:
    check_output(path, directory=directory)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the folder of the output: {_os_message(exc)}",
            file=path.parent,
            fix="choose another output location",
        ) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish_mode(path: Path, *, directory: bool) -> None:
    """mkstemp/mkdtemp create 0600/0700 entries; give the finished output the usual mode."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    _make_parent(path, directory=False)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(
            f"cannot write the output: {_os_message(exc)}", file=path, fix="choose another path"
        ) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _publish_mode(tmp_path, directory=False)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; move it onto ``path`` if the block succeeds.

    An existing ``path`` is replaced only after the new folder is complete.
    """
    path = Path(path)
    _make_parent(path, directory=True)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise InputError(
            f"cannot write the output: {_os_message(exc)}", file=path, fix="choose another path"
        ) from None
    try:
        yield tmp
        _publish_mode(tmp, directory=True)
        if path.exists():
            if not overwrite:
                raise FileExistsError(path)
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def open_text(path: str | os.PathLike[str], mode: str = "rt"):
    """Open a text file, transparently (de)compressing ``.gz`` by its magic bytes or name.

    Raises
    ------
    InputError
        When the file cannot be opened (missing, a folder, no permission), is a corrupt gzip
        file, or (reading) does not start with UTF-8 text: a binary file is refused here rather
        than failing later in the middle of a parser.
    """
    path = Path(path)
    reading = "r" in mode
    try:
        if reading:
            with open(path, "rb") as fh:
                gz = fh.read(2) == b"\x1f\x8b"
            _check_text(path, gz)
        else:
            gz = path.suffix == ".gz"
        if gz:
            return gzip.open(path, mode, encoding="utf-8")
        return open(path, mode, encoding="utf-8")
    except IsADirectoryError:
        raise InputError("is a folder, not a file", file=path, fix="give a file") from None
    except FileNotFoundError:
        if reading:
            raise InputError("file not found", file=path, fix="check the path") from None
        raise InputError(
            "cannot write: its folder does not exist", file=path, fix="check the path"
        ) from None
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        message = _os_message(exc) if isinstance(exc, OSError) else "truncated gzip file"
        if reading:
            raise InputError(
                f"cannot read file: {message}",
                file=path,
                fix="check it is an uncorrupted text or gzip file",
            ) from None
        raise InputError(
            f"cannot write file: {message}", file=path, fix="choose another path"
        ) from None


def is_parquet(path: str | os.PathLike[str]) -> bool:
    """Whether a file is parquet: a ``.parquet`` / ``.pq`` name, or the parquet magic bytes.

    The one test of every reader that takes text or parquet (sumstats, annotations, intervals,
    ``deepwas info``); text files are otherwise sniffed for gzip by :func:`open_text`.

    Raises
    ------
    OSError
        When a file without a parquet name cannot be opened (the caller's error boundary names
        it).
    """
    if os.fspath(path).lower().endswith((".parquet", ".pq")):
        return True
    with open(path, "rb") as fh:
        return fh.read(4) == b"PAR1"


def _check_text(path: Path, gz: bool) -> None:
    """Refuse a file whose first bytes (decompressed) are not UTF-8 text."""
    opener = gzip.open if gz else open
    with opener(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if b"\x00" in head:
        bad = head.index(b"\x00")
    else:
        try:  # an incremental decode: a character cut at the end of the head is not an error
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
            return
        except UnicodeDecodeError as exc:
            bad = exc.start
    raise InputError(
        f"not a text file (byte {bad + 1} is 0x{head[bad]:02x}, not UTF-8 text)",
        file=path,
        fix="give a text, gzip-compressed text or parquet file",
    )

"""The ``deepwas`` command line: thin verbs over the library (DESIGN 4).

Every verb parses LDSC/PLINK-style flags, calls library functions and prints what they report.
Each verb lives in a module of this package with a ``register(sub)`` that adds its parser
(:data:`VERB_MODULES`, in the order of ``deepwas --help``); flags shared by several verbs are
declared once (:mod:`deepwas.cli._args`), each with its constraint from a table
(:mod:`deepwas._validation`), and :func:`main` checks them and the ``--out`` path before the verb
does any work. A :class:`deepwas.errors.DeepwasError` becomes one line ``deepwas: error: ...`` on
stderr and exit status 2; any other exception is a bug and becomes one line ``deepwas: internal
error: ...`` and exit status 1 (``--debug`` or ``DEEPWAS_DEBUG=1`` print the traceback too).
Outputs are written atomically by the library, so an error leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

# torch (MKL) does the heavy linear algebra; NumPy's own BLAS stays single-threaded so that the
# two thread pools do not fight over the cores (measured: a 2-4x slowdown on 2 cores otherwise).
# Set before NumPy is first imported; a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from deepwas import __version__  # noqa: E402
from deepwas._validation import validate  # noqa: E402
from deepwas.cli import data, enrich, finemap, fitting, prs, synth  # noqa: E402
from deepwas.cli._args import DEBUG_HELP, set_threads  # noqa: E402
from deepwas.errors import DeepwasError  # noqa: E402

__all__ = ["main", "build_parser"]

_REPORT = (
    "this is a bug in deepwas: please report it with the command line; "
    "rerun with --debug for the traceback"
)
#: modules of verbs, each with ``register(sub)``, in the order ``deepwas --help`` lists them
VERB_MODULES = (data, fitting, enrich, finemap, prs, synth)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deepwas",
        description="Learn functionally informed SNP-heritability priors from GWAS summary "
        "statistics with the exact likelihood under LD.",
    )
    p.add_argument("--version", action="version", version=f"deepwas {__version__}")
    p.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    for module in VERB_MODULES:
        module.register(sub)
    return p


def _internal_error_line(exc: BaseException) -> str:
    kind = type(exc)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    message = " ".join(str(exc).split())
    return f"deepwas: internal error: {name}{': ' + message if message else ''} ({_REPORT})"


def _check_args(args: argparse.Namespace) -> None:
    """Everything about the flags that can be refused before the verb does any work."""
    validate(vars(args), getattr(args, "constraints", {}), where=None)
    if getattr(args, "out", None):
        from deepwas._files import check_output

        check_output(args.out, directory=args.out_kind == "dir")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``deepwas`` console script; returns the exit status.

    Exit status 0 on success; 2 for an error the user can act on (bad flags or input, or sizes
    that do not fit in memory: one line ``deepwas: error: ...`` on stderr, and argparse's usage
    errors); 1 for an internal error (a
    bug: one line ``deepwas: internal error: TYPE: message (...)``; with ``--debug`` or
    ``DEEPWAS_DEBUG=1`` the traceback is printed first); 130 when interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    debug = args.debug or os.environ.get("DEEPWAS_DEBUG", "") not in ("", "0")
    t0 = time.perf_counter()
    try:
        _check_args(args)
        set_threads(args.threads)
        status = args.func(args)
    except DeepwasError as exc:
        if debug:
            traceback.print_exc()
        print(f"deepwas: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("deepwas: interrupted", file=sys.stderr)
        return 130
    except MemoryError as exc:  # sizes beyond the machine (numpy's ArrayMemoryError too)
        if debug:
            traceback.print_exc()
        message = " ".join(str(exc).split())
        print(
            f"deepwas: error: out of memory{': ' + message if message else ''}; the inputs or "
            "flags ask for more memory than this machine has: reduce the sizes they set, or "
            "run on a larger machine",
            file=sys.stderr,
            flush=True,
        )
        return 2
    except Exception as exc:  # a bug: one line, the traceback only on request
        if debug:
            traceback.print_exc()
        print(_internal_error_line(exc), file=sys.stderr, flush=True)
        return 1
    if not getattr(args, "quiet", False):
        print(f"done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())

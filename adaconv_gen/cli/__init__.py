"""Console tools (``adaconv-*``). Each is thin: parse arguments, call the package."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from ..errors import UserInputError

__all__ = ["run_cli", "normalize_flags"]


def normalize_flags(argv: Sequence[str], *, prefer: str = "-") -> list[str]:
    """Accept both ``--batch-size`` and ``--batch_size`` (STYLE.md): rewrite long flags.

    Args:
        argv: the raw argument list.
        prefer: the separator the parser declares (``"-"`` for tools, ``"_"`` for recipes).
    """
    other = "_" if prefer == "-" else "-"
    out = []
    for a in argv:
        if a.startswith("--") and len(a) > 2:
            head, eq, tail = a.partition("=")
            a = "--" + head[2:].replace(other, prefer) + eq + tail
        out.append(a)
    return out


def run_cli(main: Callable[[list[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a tool's ``main``; a :class:`UserInputError` prints ``error: ...`` and exits 2."""
    try:
        code = main(None if argv is None else list(argv))
    except UserInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)

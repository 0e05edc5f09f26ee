"""Console tools (``adaconv-*``). Each is thin: parse arguments, call the package.

What they share (flags, device, progress, warnings, output checks, the error contract) lives in
:mod:`adaconv_gen.cli.common`; ``run_cli`` and ``normalize_flags`` are re-exported here for the
recipes.
"""

from __future__ import annotations

from .common import normalize_flags, run_cli

__all__ = ["run_cli", "normalize_flags"]

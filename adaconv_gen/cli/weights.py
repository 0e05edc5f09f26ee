"""``adaconv-weights``: list every known pretrained file, where it was looked for, found or not."""

from __future__ import annotations

import sys

from .. import weights as W
from .common import make_parser, parse, run_cli


def _resolve(name: str) -> tuple[object | None, str]:
    """The file the library will actually use for ``name`` (no download), and a note."""
    try:
        if name == "lpips-alex":  # the lpips package's bundled copy is the last fallback
            from ..metrics.lpips import resolve_lpips_weights

            found = resolve_lpips_weights(None)
            shipped = all(found != p for _, p in W.candidates(name))
            return found, " (the copy bundled with the lpips package)" if shipped else ""
        return W.resolve(name, download=False), ""
    except W.WeightsNotFoundError:
        return None, ""


def _main(argv: list[str] | None) -> int:
    p = make_parser("adaconv-weights", __doc__)
    p.add_argument("names", nargs="*", help="only these registry names (default: all)")
    args = parse(p, argv)
    known = W.known_weights()
    names = args.names or sorted(known)
    for n in names:
        if n not in known:
            raise W.UserInputError(f"unknown weights name {n!r}; known: {', '.join(sorted(known))}")
    missing = 0
    for n in names:
        e = known[n]
        found, note = _resolve(n)
        missing += found is None
        print(f"{n}: {e.filename} — {e.description}")
        print(f"  status: {'FOUND ' + str(found) + note if found else 'missing'}")
        for label, path in W.candidates(n):
            mark = "found" if path is not None and path.is_file() else ("not set" if path is None else "absent")
            print(f"  looked in {label}: {path if path is not None else '-'} ({mark})")
        if e.url:
            print(f"  download: {e.url}")
        if e.license:
            print(f"  license: {e.license}")
    print(f"{len(names) - missing} of {len(names)} files found")
    return 0


def main(argv: list[str] | None = None) -> None:
    sys.exit(run_cli(_main, argv))


if __name__ == "__main__":
    main()

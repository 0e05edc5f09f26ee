"""``adaconv-weights``: list every known pretrained file, where it was looked for, found or not."""

from __future__ import annotations

import argparse
import sys

from .. import weights as W
from . import normalize_flags, run_cli


def _main(argv: list[str] | None) -> int:
    p = argparse.ArgumentParser(prog="adaconv-weights", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("names", nargs="*", help="only these registry names (default: all)")
    args = p.parse_args(normalize_flags(sys.argv[1:] if argv is None else argv))
    known = W.known_weights()
    names = args.names or sorted(known)
    for n in names:
        if n not in known:
            raise W.UserInputError(f"unknown weights name {n!r}; known: {', '.join(sorted(known))}")
    missing = 0
    for n in names:
        e = known[n]
        try:
            found = W.resolve(n, download=False)
        except W.WeightsNotFoundError:
            found = None
        missing += found is None
        print(f"{n}: {e.filename} — {e.description}")
        print(f"  status: {'FOUND ' + str(found) if found else 'missing'}")
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

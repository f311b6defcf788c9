"""Print the web UI's msgids, sorted, one per line: every message written inside `_()` /
`gettext` in webui/*.py and webui/templates/**/*.html (see webui/i18n_catalog.py).

    python scripts/i18n_extract.py              # extracted msgids
    python scripts/i18n_extract.py --indirect   # plus labels passed to _() as values
    python scripts/i18n_extract.py --where      # each msgid with where it is used

Needs only Babel and Jinja2: the catalogue module is loaded from its file, not through the
webui package (which would import Flask and the engine).
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

CATALOG_MODULE = Path(__file__).resolve().parent.parent / "webui" / "i18n_catalog.py"


def load_catalog():
    spec = importlib.util.spec_from_file_location("carepath_i18n_catalog", CATALOG_MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--indirect", action="store_true",
                        help="also print labels handed to _() as values (the agency labels)")
    parser.add_argument("--where", action="store_true", help="print FILE:LINE of each use after the msgid")
    args = parser.parse_args(argv)
    catalog = load_catalog()
    found = catalog.extract()
    ids = set(found) | (catalog.indirect_msgids() if args.indirect else set())
    for msgid in sorted(ids):
        if args.where:
            places = " ".join(f"{name}:{line}" for name, line in found.get(msgid, [])) or "(indirect)"
            print(f"{msgid}\t{places}")
        else:
            print(msgid)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m affect_lib ...`` is the ``affect-lib`` command line (:mod:`affect_lib.commands`)."""

import sys

from affect_lib.commands import main

if __name__ == "__main__":
    sys.exit(main())

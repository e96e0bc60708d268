"""``make rehearsal``: the paper profile's dress rehearsal on full-size synthetic corpora (see affect_lib.rehearsal)."""

import sys

from affect_lib.rehearsal import main

if __name__ == "__main__":
    sys.exit(main())

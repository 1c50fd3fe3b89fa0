"""``python -m taskbeam ...``: the taskbeam command."""

import sys

from taskbeam._cli import main

if __name__ == "__main__":
    sys.exit(main())

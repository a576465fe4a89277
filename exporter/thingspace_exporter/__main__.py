"""`python -m thingspace_exporter` and the `thingspace-exporter` command."""

import gc
import sys


def main() -> int:
    # Start-up allocates much and frees little; cli.tune_gc() turns collection back on, with
    # the start-up objects frozen out of it.
    gc.disable()
    from .cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())

"""Run the audit: ``python run_audit.py [EXPERIMENT.toml] [--set k=v ...]`` (see --help)."""

import sys

from audit.cli import main

if __name__ == "__main__":
    sys.exit(main())

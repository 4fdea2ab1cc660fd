"""``python -m pie_conformance`` is ``pie-check``."""

from pie_conformance.cli import main

raise SystemExit(main())

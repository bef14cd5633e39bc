"""``python -m deconv``: see :mod:`deconv.cli`."""
from deconv.cli import main

raise SystemExit(main())

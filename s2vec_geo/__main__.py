"""``python -m s2vec_geo`` runs the ``s2vec`` command line."""

import sys

from s2vec_geo.cli import main

sys.exit(main())

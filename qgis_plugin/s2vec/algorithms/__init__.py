"""The provider's algorithms, one module per toolbox group."""

from __future__ import annotations

from .cells import CoverExtent, CoverLayer

ALGORITHMS = (CoverLayer, CoverExtent)

"""Featurize, build images and embed on Dask: past one machine, never a planet in memory.

One concept a module, in data-flow order:

- :mod:`.cluster`: where Dask runs (:func:`dask_client`) and how tasks run;
- :mod:`.featurize`: :func:`featurize_distributed`, featurizing as map
  (partial counts per input) and reduce (sums per cell);
- :mod:`.partitions`: the partitioned cell folder it writes (GeoParquet parts
  of whole level-6 cells and a manifest), read by
  :func:`read_cell_partitions` and :func:`read_manifest`;
- :mod:`.images`: :func:`build_images_distributed`, one image dataset from
  the parts;
- :mod:`.embed`: :func:`embed_distributed`, the parts embedded part by part.

Dask runs where the caller says: ``scheduler="tcp://HOST:8786"`` (any Dask
cluster), ``workers=N`` (a local cluster of N single-threaded processes), the
Dask client already active in the session, or else a new local cluster.
Folders must be on storage that every Dask worker can reach.
"""

from s2vec_geo.distributed.cluster import dask_client
from s2vec_geo.distributed.embed import embed_distributed
from s2vec_geo.distributed.featurize import PARTITION_BYTES, featurize_distributed
from s2vec_geo.distributed.images import build_images_distributed
from s2vec_geo.distributed.partitions import (
    PARTITION_LEVEL,
    read_cell_partitions,
    read_manifest,
)

__all__ = [
    "PARTITION_BYTES",
    "PARTITION_LEVEL",
    "build_images_distributed",
    "dask_client",
    "embed_distributed",
    "featurize_distributed",
    "read_cell_partitions",
    "read_manifest",
]

"""Data: declared, verified, cached data sets and the readers that turn files into arrays.

`catalog` declares every data set once; `fetch` finds a declared file in the cache, the mirror
or upstream, verifying its checksum; the reader modules (`tabular`, ...) parse files.
"""

from dlabs.data.catalog import DataFile, Dataset
from dlabs.data.store import dataset, datasets, fetch, fetch_all

__all__ = ["DataFile", "Dataset", "dataset", "datasets", "fetch", "fetch_all"]

"""The Large Movie Review Dataset (aclImdb): the archive reader and its parsed cache.

The archive is streamed once (``tarfile`` mode ``r:gz``), so the mirror's text-only repack and
the upstream ``aclImdb_v1.tar.gz`` read the same; only ``<root>/{train,test}/{pos,neg}/*.txt``
are taken. The parsed texts are cached in ``$DLABS_HOME/parsed/`` as one ``.npz`` (UTF-8 bytes
with offsets, no pickle) keyed by the archive's checksum, so later runs skip the 50,000 small
files.
"""

from __future__ import annotations

import io
import logging
import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlabs import paths
from dlabs.errors import DataError

log = logging.getLogger(__name__)

SPLITS = ("train", "test")
CLASSES = ("neg", "pos")  # label 0, label 1
_MEMBER = re.compile(r"^(?:\./)?[^/]+/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


@dataclass
class Reviews:
    """Parsed labelled reviews of one archive: parallel arrays, one entry per review."""

    texts: list[str]
    labels: np.ndarray  # int8: 1 positive, 0 negative
    split: np.ndarray  # int8: 0 train, 1 test
    rating: np.ndarray  # int8: the 1..10 star rating in the file name

    def take(self, split: str, n: int = 0) -> tuple[list[str], np.ndarray]:
        """The texts and labels of a split, or with `n` a seeded random sample of `n` of them, kept in file order."""
        mask = self.split == SPLITS.index(split)
        texts, y = [t for t, m in zip(self.texts, mask) if m], self.labels[mask].astype(np.int64)
        if n and n < len(texts):
            keep = np.sort(np.random.RandomState(0).permutation(len(texts))[:n])
            texts, y = [texts[i] for i in keep], y[keep]
        return texts, y

    def counts(self, names: tuple[str, str]) -> dict:
        """Reviews per split and class, and their star ratings (classes named by `names`)."""
        out = {}
        for s, split in enumerate(SPLITS):
            for c, label in enumerate(names):
                mask = (self.split == s) & (self.labels == c)
                out[f"{split}_{label}"] = int(mask.sum())
                out[f"{split}_{label}_ratings"] = {int(k): int(v) for k, v in zip(*np.unique(self.rating[mask], return_counts=True))}
        return out


def read_review_archive(path: Path) -> Reviews:
    """Every labelled review of an aclImdb-layout ``.tar.gz``, in sorted path order."""
    rows = []
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                m = _MEMBER.match(member.name)
                if m is None or not member.isfile():
                    continue
                raw = tar.extractfile(member).read()
                rows.append((m.group(1), m.group(2), int(m.group(3)), int(m.group(4)),
                             raw.decode("utf-8", errors="replace")))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path}: not a readable .tar.gz ({e.__class__.__name__}: {e}); "
                        "the archive is corrupt or truncated, delete it and fetch it again") from None
    if not rows:
        raise DataError(f"{path}: no reviews found (expected aclImdb/{{train,test}}/{{pos,neg}}/*.txt)")
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    missing = [f"{s}/{c}" for s in SPLITS for c in CLASSES if not any(r[0] == s and r[1] == c for r in rows)]
    if missing:
        raise DataError(f"{path}: no reviews under {', '.join(missing)}; not an aclImdb archive")
    return Reviews([r[4] for r in rows],
                   np.array([CLASSES.index(r[1]) for r in rows], dtype=np.int8),
                   np.array([SPLITS.index(r[0]) for r in rows], dtype=np.int8),
                   np.array([r[3] for r in rows], dtype=np.int8))


def load_reviews(path: Path, key: str) -> Reviews:
    """`read_review_archive` through a cache in ``$DLABS_HOME/parsed/`` keyed by `key` (the checksum)."""
    cache = paths.home() / "parsed" / f"reviews-{re.sub(r'[^0-9a-zA-Z]+', '-', key)[:80]}.npz"
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                blob, offsets = z["text_utf8"].tobytes(), z["offsets"]
                texts = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:])]
                return Reviews(texts, z["labels"], z["split"], z["rating"])
        except Exception:  # truncated (BadZipFile, EOFError), corrupt (zlib.error) or foreign: rebuilt below
            log.warning("%s: unreadable cache, parsing the archive again", cache)
    reviews = read_review_archive(path)
    encoded = [t.encode("utf-8") for t in reviews.texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    buf = io.BytesIO()
    np.savez_compressed(buf, text_utf8=np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets=offsets,
                        labels=reviews.labels, split=reviews.split, rating=reviews.rating)
    paths.atomic_write(cache, buf.getvalue())  # two processes never see half a cache file
    return reviews

"""Text data: the review-archive reader with its parsed cache, a tokenizer, n-gram
vocabularies fitted on training documents only, and a sparse batcher.

The archive is streamed once (``tarfile`` mode ``r:gz``), so the mirror's text-only repack and
the upstream ``aclImdb_v1.tar.gz`` read the same; only ``<root>/{train,test}/{pos,neg}/*.txt``
are taken. The parsed texts are cached in ``$DLABS_HOME/parsed/`` as one ``.npz`` (UTF-8 bytes
with offsets, no pickle) keyed by the archive's checksum, so later runs skip the 50,000 small
files. Document-term matrices are SciPy CSR matrices; `SparseBatcher` densifies one batch at a
time (or hands out index/weight lists for ``nn.EmbeddingBag``) so 25k x 10k floats never sit in
memory.
"""

from __future__ import annotations

import logging
import re
import tarfile
import zlib
from collections import Counter
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

    def take(self, split: str) -> tuple[list[str], np.ndarray]:
        mask = self.split == SPLITS.index(split)
        return [t for t, m in zip(self.texts, mask) if m], self.labels[mask].astype(np.int64)


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
        except (OSError, ValueError, KeyError, UnicodeDecodeError):
            log.warning("%s: unreadable cache, parsing the archive again", cache)
    reviews = read_review_archive(path)
    encoded = [t.encode("utf-8") for t in reviews.texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.tmp.npz")
    np.savez_compressed(tmp, text_utf8=np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets=offsets,
                        labels=reviews.labels, split=reviews.split, rating=reviews.rating)
    tmp.replace(cache)
    return reviews


# tokens and vocabularies -------------------------------------------------------------------
_TAG = re.compile(r"<[^>]{0,40}>")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)*|[!?]")


def tokenize(text: str) -> list[str]:
    """Lower-cased words (with inner apostrophes: "don't") and ``!``/``?``; HTML tags such as ``<br />`` are dropped."""
    return _TOKEN.findall(_TAG.sub(" ", text.lower()))


def ngrams(tokens: list[str], n_max: int) -> list[str]:
    """The 1..n_max-grams of a token list, words joined by one space."""
    out = list(tokens)
    for n in range(2, n_max + 1):
        out += map(" ".join, zip(*(tokens[i:] for i in range(n))))
    return out


def fit_vocabulary(docs: list[list[str]], n_max: int = 1, max_size: int | None = None, min_df: int = 1) -> list[str]:
    """Terms of the training documents: 1..n_max-grams seen in >= min_df documents, the
    `max_size` most frequent by total count (ties broken alphabetically, so it is deterministic)."""
    count, df = Counter(), Counter()
    for doc in docs:
        grams = ngrams(doc, n_max)
        count.update(grams)
        if min_df > 1:
            df.update(set(grams))
    terms = [t for t in count if min_df <= 1 or df[t] >= min_df]
    terms.sort(key=lambda t: (-count[t], t))
    return terms[:max_size] if max_size else terms


def doc_term_matrix(docs: list[list[str]], vocab: dict[str, int], n_max: int, binary: bool = True):
    """A CSR (documents x terms) matrix of counts (or presence) of the known n-grams; unknown ones are dropped."""
    from scipy import sparse

    indptr, indices = [0], []
    for doc in docs:
        ids = [vocab[g] for g in ngrams(doc, n_max) if g in vocab]
        indices.extend(ids)
        indptr.append(len(indices))
    m = sparse.csr_matrix((np.ones(len(indices), dtype=np.float32), np.array(indices, dtype=np.int64),
                           np.array(indptr, dtype=np.int64)), shape=(len(docs), len(vocab)))
    m.sum_duplicates()
    if binary:
        m.data[:] = 1.0
    return m


def nb_ratio(x, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Naive-Bayes log-count ratio r = log((alpha + p/|p|_1) / (alpha + q/|q|_1)) per term (Wang & Manning 2012)."""
    p = alpha + np.asarray(x[y == 1].sum(0)).ravel()
    q = alpha + np.asarray(x[y == 0].sum(0)).ravel()
    return (np.log(p / p.sum()) - np.log(q / q.sum())).astype(np.float32)


class SparseBatcher:
    """Batches of a CSR matrix and targets, as a dense float block or as EmbeddingBag inputs.

    ``dense``: ``(x[idx] as a dense float32 tensor, y)``. ``bag``: ``(term ids, offsets,
    values, y)`` for ``nn.EmbeddingBag(mode="sum")`` with ``per_sample_weights``.
    """

    def __init__(self, x, y: np.ndarray, form: str = "dense"):
        import torch

        self.x = x.tocsr().astype(np.float32)
        self.y = torch.as_tensor(np.asarray(y), dtype=torch.float32).reshape(-1, 1)
        self.form = form

    def __len__(self) -> int:
        return self.x.shape[0]

    def batch(self, idx):
        import torch

        idx = np.asarray(idx)
        part = self.x[idx]
        target = self.y[torch.as_tensor(idx)]
        if self.form == "dense":
            return torch.from_numpy(part.toarray()), target
        return (torch.from_numpy(part.indices.astype(np.int64)), torch.from_numpy(part.indptr[:-1].astype(np.int64)),
                torch.from_numpy(part.data), target)

"""Text data: the review-archive reader with its parsed cache, a tokenizer, n-gram
vocabularies fitted on training documents only, and a sparse batcher.

The archive is streamed once (``tarfile`` mode ``r:gz``), so the mirror's text-only repack and
the upstream ``aclImdb_v1.tar.gz`` read the same; only ``<root>/{train,test}/{pos,neg}/*.txt``
are taken. The parsed texts are cached in ``$DLABS_HOME/parsed/`` as one ``.npz`` (UTF-8 bytes
with offsets, no pickle) keyed by the archive's checksum, so later runs skip the 50,000 small
files. Document-term matrices are SciPy CSR matrices; `SparseBatcher` densifies one batch at a
time (or hands out index/weight lists for ``nn.EmbeddingBag``) so 25k x 10k floats never sit in
memory. `read_inputs` turns what a person passes to ``predict`` into texts, with warnings.
"""

from __future__ import annotations

import io
import logging
import re
import sys
import tarfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlabs import paths
from dlabs.errors import DataError, InputError

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
    buf = io.BytesIO()
    np.savez_compressed(buf, text_utf8=np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets=offsets,
                        labels=reviews.labels, split=reviews.split, rating=reviews.rating)
    paths.atomic_write(cache, buf.getvalue())  # two processes never see half a cache file
    return reviews


# tokens and vocabularies -------------------------------------------------------------------
_TAG = re.compile(r"<[^>]{0,40}>")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)*|[!?]")


def strip_tags(text: str) -> str:
    """The text with HTML tags such as ``<br />`` replaced by a space (for display)."""
    return " ".join(_TAG.sub(" ", text).split())


def tokenize(text: str) -> list[str]:
    """Lower-cased words (with inner apostrophes: "don't") and ``!``/``?``; HTML tags such as ``<br />`` are dropped."""
    return _TOKEN.findall(_TAG.sub(" ", text.lower()))


class NgramVocabulary:
    """Word 1..n_max-grams of the training documents, as integer keys so that counting and lookup
    are NumPy sorts and searches rather than millions of Python string operations.

    A word has an id (its place in the sorted word list); an n-gram's key is its word ids read as
    the digits of a base-``len(words)`` number. Terms are columns: the kept unigram keys (sorted),
    then the bigram keys, and so on. The state is the word list (JSON) and one int64 key array per
    order (NumPy), saved with the model.
    """

    def __init__(self, words: list[str], keys: list[np.ndarray]):
        self.words = list(words)
        self.keys = [np.asarray(k, dtype=np.int64) for k in keys]
        self.index = {w: i for i, w in enumerate(self.words)}
        self.offsets = np.concatenate([[0], np.cumsum([len(k) for k in self.keys])])

    @property
    def n_max(self) -> int:
        return len(self.keys)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @classmethod
    def fit(cls, docs: list[list[str]], n_max: int = 1, max_size: int | None = None, min_df: int = 1) -> "NgramVocabulary":
        """Terms seen in >= `min_df` documents; the `max_size` with the highest document frequency
        (ties: lower order first, then key), if given."""
        df = Counter()
        for doc in docs:
            df.update(set(doc))
        words = sorted(w for w, c in df.items() if c >= min_df)
        if len(words) ** n_max >= 2 ** 62:
            raise ValueError(f"{len(words)} words do not fit {n_max}-gram keys in int64")
        vocab = cls(words, [np.zeros(0, np.int64)] * n_max)
        found = []
        for n, (doc, key) in enumerate(vocab._grams(docs), start=1):
            order = np.lexsort((doc, key))
            key, doc = key[order], doc[order]
            first = np.ones(len(key), dtype=bool)
            first[1:] = (key[1:] != key[:-1]) | (doc[1:] != doc[:-1])
            uniq, counts = np.unique(key[first], return_counts=True)
            keep = counts >= min_df
            found.append((np.full(keep.sum(), n), uniq[keep], counts[keep]))
        order_, key_, df_ = (np.concatenate(c) for c in zip(*found))
        if max_size and len(key_) > max_size:
            top = np.lexsort((key_, order_, -df_))[:max_size]
            order_, key_ = order_[top], key_[top]
        return cls(words, [np.sort(key_[order_ == n]) for n in range(1, n_max + 1)])

    def _grams(self, docs: list[list[str]]):
        """Per order n: (document index, key) of every n-gram whose words are all known."""
        get = self.index.get
        ids = np.fromiter((get(t, -1) for doc in docs for t in doc), dtype=np.int64)
        doc = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
        base = len(self.words)
        for n in range(1, self.n_max + 1):
            m = len(ids) - n + 1
            if m <= 0:
                yield np.zeros(0, np.int64), np.zeros(0, np.int64)
                continue
            ok, key = doc[n - 1:] == doc[:m], np.zeros(m, dtype=np.int64)
            for k in range(n):
                part = ids[k:k + m]
                ok &= part >= 0
                key = key * base + part
            yield doc[:m][ok], key[ok]

    def transform(self, docs: list[list[str]]):
        """A binary CSR (documents x terms) matrix: which known terms each document holds."""
        from scipy import sparse

        rows, cols = [], []
        for n, (doc, key) in enumerate(self._grams(docs), start=1):
            table = self.keys[n - 1]
            pos = np.searchsorted(table, key)
            hit = pos < len(table)
            hit[hit] = table[pos[hit]] == key[hit]
            rows.append(doc[hit])
            cols.append(pos[hit] + self.offsets[n - 1])
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        m = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(docs), len(self)))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    def term(self, column: int) -> str:
        n = int(np.searchsorted(self.offsets, column, side="right"))
        key, base, parts = int(self.keys[n - 1][column - self.offsets[n - 1]]), len(self.words), []
        for _ in range(n):
            key, digit = divmod(key, base)
            parts.append(self.words[digit])
        return " ".join(reversed(parts))

    def state(self) -> dict:
        return {"words": self.words, "ngram_max": self.n_max, **{f"keys_{n}": k for n, k in enumerate(self.keys, 1)}}

    @classmethod
    def from_state(cls, state: dict) -> "NgramVocabulary":
        return cls(state["words"], [state[f"keys_{n}"] for n in range(1, int(state["ngram_max"]) + 1)])


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


# predict input ------------------------------------------------------------------------------
def _decode(raw: bytes, source: str, warnings: list[str]) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        warnings.append(f"{source} is not valid UTF-8 (first bad byte at {e.start}); undecodable bytes were replaced")
        return raw.decode("utf-8", errors="replace")


def read_inputs(inputs: list[str], fields: dict[str, str], max_chars: int) -> list[tuple[str, list[str]]]:
    """Texts for `predict`, each with its warnings: (text, [warning...]) from text arguments, ``--file F`` (one review a line) and ``-`` (stdin, one a line)."""
    unknown = set(fields) - {"file"}
    if unknown:
        raise InputError(f"unknown option(s) --{', --'.join(sorted(unknown))} (give review text, --file F, or - for stdin)")
    items: list[tuple[str, list[str]]] = []
    for item in inputs:
        if item == "-":
            warnings: list[str] = []
            items += _lines(_decode(sys.stdin.buffer.read(), "stdin", warnings), "stdin", warnings)
        else:
            items.append((item, []))
    if "file" in fields:
        path = Path(fields["file"]).expanduser()
        if not path.is_file():
            raise InputError(f"{path}: no such file (--file takes a text file with one review a line)")
        warnings = []
        items += _lines(_decode(path.read_bytes(), str(path), warnings), str(path), warnings)
    if not items:
        raise InputError('no review given: pass the text ("dlabs predict imdb \'Great film\'"), --file F, or - for stdin')
    out = []
    for review, warnings in items:
        if not review.strip():
            raise InputError("empty review: give some text to classify")
        if len(review) > max_chars:
            warnings = warnings + [f"review of {len(review):,} characters cut to its first {max_chars:,}"]
            review = review[:max_chars]
        out.append((review, list(warnings)))
    return out


def _lines(body: str, source: str, warnings: list[str]) -> list[tuple[str, list[str]]]:
    lines = [line for line in body.splitlines() if line.strip()]
    if not lines:
        raise InputError(f"{source}: no review in it (empty, or only blank lines)")
    return [(line, warnings) for line in lines]

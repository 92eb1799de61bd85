"""Text data: a tokenizer, n-gram vocabularies fitted on training documents only, a sparse
batcher, and what a text lab's predict reads.

Document-term matrices are SciPy CSR matrices; `SparseBatcher` densifies one batch at a time
(or hands out index/weight lists for ``nn.EmbeddingBag``) so 25k x 10k floats never sit in
memory. `read_reviews` turns a predict request's items into texts, with warnings. The review
archive's reader is `dlabs.data.aclimdb`.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import chain, repeat

import numpy as np

from dlabs.errors import InputError, printable

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
        self._lookups: dict = {}

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
        lengths = [len(d) for d in docs]
        ids = np.fromiter(map(self.index.get, chain.from_iterable(docs), repeat(-1)), np.int64, sum(lengths))
        doc = np.repeat(np.arange(len(docs)), lengths)
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

    def _lookup(self, n: int):
        """key -> column within order n, or -1: a table for words (a word's key is its id), a hash
        index for longer n-grams (a sorted search is 7 times slower; it was bulk predict's hot spot)."""
        if n not in self._lookups:
            table = self.keys[n - 1]
            if n == 1:
                lut = np.full(len(self.words), -1, np.int64)
                lut[table] = np.arange(len(table))
                self._lookups[n] = lut.__getitem__
            else:
                import pandas as pd

                self._lookups[n] = pd.Index(table).get_indexer
        return self._lookups[n]

    def transform(self, docs: list[list[str]]):
        """A binary CSR (documents x terms) matrix: which known terms each document holds."""
        from scipy import sparse

        rows, cols = [], []
        for n, (doc, key) in enumerate(self._grams(docs), start=1):
            pos = self._lookup(n)(key)  # each key's place among the order's terms, -1 if not a term
            hit = pos >= 0
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


def read_reviews(items: list[tuple[str, str | bytes]], max_chars: int) -> list[tuple[str, list[str]]]:
    """Texts for `predict`, each with its warnings: a text item is one review; a bytes item (a file
    or standard input) holds one review a line."""
    found: list[tuple[str, list[str]]] = []
    for name, item in items:
        if isinstance(item, bytes):
            warnings: list[str] = []
            found += _lines(_decode(item, name, warnings), name, warnings)
        else:
            found.append((printable(item), []))  # a JSON "\ud800" would make the echoed text unprintable
    if not found:
        raise InputError('no review given: pass the text ("dlabs predict imdb \'Great film\'"), --file F, or - for stdin')
    out = []
    for review, warnings in found:
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


def occlusions(x, limit: int = 2000):
    """(the first `limit` terms of a one-row CSR matrix `x`, a CSR matrix of `x` and then `x`
    without each of those terms, one a row): the rows that occlusion evidence scores."""
    from scipy import sparse

    terms = x.indices[:limit]
    rows = [x]
    for j in terms:
        keep = x.indices != j
        rows.append(sparse.csr_matrix((x.data[keep], x.indices[keep], [0, int(keep.sum())]), shape=x.shape))
    return terms, sparse.vstack(rows).tocsr()

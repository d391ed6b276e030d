"""What a request's problem means, as a vector: 停水 near 没水, 蟑螂 near 虫子, 工钱 near 工资.

Character bigrams of the problem (a request's content without its address) are mapped
to vectors learned from a corpus of citizens' messages by latent semantic analysis (the
bigram-by-message TF-IDF matrix reduced by a truncated SVD): bigrams used in the same
messages get close vectors, whichever words a writer picks. A record's vector is the
normalised sum of its bigrams' vectors; two records' cosine is `problem_sem` of the pair
model (dispatch/duplicate_pairs.py).

The vectors are built from data, not shipped: from the TipDM messages
(../shared/data/tipdm2020, evaluation data we may not redistribute) or the centre's own
order texts, into `[classifiers] duplicate_vectors` (var/, not in git):

    .venv/bin/python -m dispatch.duplicate_vectors --out var/models/duplicate_vectors.npz \\
        ../shared/data/tipdm2020/unlabelled.jsonl ../shared/data/tipdm2020/replies.jsonl \\
        ../shared/data/tipdm2020/labelled.jsonl

Without the file the index uses the pair model fitted without this feature.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DIMENSIONS = 128
MAX_TERMS = 40000  # the most frequent bigrams kept (a few MB as float16)
MIN_MESSAGES = 3  # a bigram in fewer messages gets no vector


class ProblemVectors:
    def __init__(self, vocabulary: dict[str, int], matrix: np.ndarray) -> None:
        self.vocabulary = vocabulary
        self.matrix = matrix.astype(np.float32)

    def vector(self, grams: Iterable[str]) -> np.ndarray | None:
        """The normalised sum of the bigrams' vectors; None when none is known."""
        rows = sorted(self.vocabulary[g] for g in grams if g in self.vocabulary)
        if not rows:
            return None
        total = self.matrix[rows].sum(axis=0)
        norm = float(np.linalg.norm(total))
        return total / norm if norm else None

    def save(self, path: Path) -> None:
        """Written beside `path`, then renamed over it: a service (or a test beside the
        one that builds them) loading the vectors meanwhile reads the old file or the
        new one, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        terms = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                np.savez_compressed(
                    out, terms=np.asarray(terms), matrix=self.matrix.astype(np.float16)
                )
            os.chmod(tmp, 0o644)  # mkstemp makes it private; the vectors are not secret
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: Path) -> ProblemVectors:
        with np.load(path, allow_pickle=False) as data:
            terms = [str(t) for t in data["terms"]]
            return cls({t: i for i, t in enumerate(terms)}, data["matrix"])


def build(texts: list[str], dimensions: int = DIMENSIONS) -> ProblemVectors:
    """LSA over the texts' character bigrams (canonical form, as records use them)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    from dispatch.duplicate_pairs import bigrams, canonical

    tfidf = TfidfVectorizer(
        analyzer=lambda text: sorted(bigrams(canonical(text))),
        min_df=MIN_MESSAGES,
        max_features=MAX_TERMS,
        sublinear_tf=True,
    )
    matrix = tfidf.fit_transform(texts)
    svd = TruncatedSVD(dimensions, random_state=0).fit(matrix)
    vectors = svd.components_.T
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9
    return ProblemVectors(dict(tfidf.vocabulary_), vectors)


def read_texts(paths: Iterable[Path]) -> list[str]:
    """Title and text (or content) of every JSONL record of the files."""
    texts = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                body = item.get("text") or item.get("content") or ""
                texts.append(f"{item.get('title') or ''} {body}".strip())
    return texts


def load_vectors(path: Path | None) -> ProblemVectors | None:
    if path is None or not path.exists():
        return None
    vectors = ProblemVectors.load(path)
    log.info("duplicate problem vectors: %d bigrams from %s", len(vectors.vocabulary), path)
    return vectors


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dimensions", type=int, default=DIMENSIONS)
    parser.add_argument("data", type=Path, nargs="+", help="JSONL files with text/content")
    args = parser.parse_args(argv)
    texts = read_texts(args.data)
    build(texts, args.dimensions).save(args.out)
    print(json.dumps({"texts": len(texts), "out": str(args.out)}))


if __name__ == "__main__":
    main()

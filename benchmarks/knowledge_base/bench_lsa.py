"""Tried for issue 13 and not adopted: an LSA channel for KB search.

    .venv/bin/python -m benchmarks.knowledge_base.bench_lsa [MIN_DF] [K,K...]

Truncated SVD over char 1-2-gram TF-IDF (the KB's own tokens) of the TipDM messages,
the government replies and the demo KB; the cosine between query and entry (title,
questions, answer) is added to the fused BM25 score as `w * best * cos`, before the
fuzzy re-ranking. Top-1 / top-5 per weight w on the own paraphrases and the two dev
sets. Needs ../shared/data/tipdm2020 (read in place).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from knowledge_base.evaluation import DEMO_KB, load_documents, load_paraphrases
from knowledge_base.search import SearchIndex
from knowledge_base.text import char_tokens, normalize

ROOT = Path(__file__).resolve().parents[2]
TIPDM = next(
    (p / "shared/data/tipdm2020" for p in (ROOT.parent, ROOT.parent.parent) if p.is_dir()),
    ROOT.parent / "shared/data/tipdm2020",
)
DEV = ROOT / "benchmarks/knowledge_base/dev"


def queries(path: Path) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [(r["q"], r["id"]) for r in rows]


def main() -> None:
    min_df = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    ks = [int(k) for k in (sys.argv[2] if len(sys.argv) > 2 else "100,200").split(",")]
    corpus = []
    for name in ("labelled", "unlabelled", "replies"):
        for line in (TIPDM / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            corpus.append(normalize(f"{r.get('title') or ''} {r.get('text') or ''}")[:400])
            if r.get("reply"):
                corpus.append(normalize(r["reply"])[:400])
    docs = load_documents(DEMO_KB)
    kb = [
        normalize(" ".join((d.content.title, *d.content.questions, d.content.answer))) for d in docs
    ]
    vectorizer = TfidfVectorizer(analyzer=char_tokens, min_df=min_df, sublinear_tf=True)
    X = vectorizer.fit_transform(corpus + kb * 3)
    sets = {
        "paraphrases": [(p.query, p.expected) for p in load_paraphrases()],
        "kb_dev": queries(DEV / "kb_dev.jsonl"),
        "kb_dev2": queries(DEV / "kb_dev2.jsonl"),
    }
    index = SearchIndex(docs)
    for k in ks:
        svd = TruncatedSVD(k, random_state=0).fit(X)

        def embed(texts: list[str], svd=svd) -> np.ndarray:
            Z = svd.transform(vectorizer.transform(texts))
            return Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-9)

        E = embed(kb)
        for w in (0.0, 0.2, 0.4, 0.7, 1.0, 1.5):
            result = {}
            for name, qs in sets.items():
                top1 = top5 = 0
                for q, expected in qs:
                    n = normalize(q)
                    fused = np.zeros(len(docs))
                    for channel, tokenize, weight in index._channels:
                        fused += weight * channel.scores(tokenize(n))
                    best = fused.max() if fused.max() > 0 else 1.0
                    fused += w * best * np.maximum(E @ embed([n])[0], 0)
                    hits = [h.external_id for h in index._rerank(n.replace(" ", ""), fused, 5)]
                    top1 += hits[:1] == [expected]
                    top5 += expected in hits
                result[name] = (round(top1 / len(qs), 3), round(top5 / len(qs), 3))
            print(f"k={k} w={w}", json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

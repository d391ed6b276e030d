"""Index build time and search latency at scale.

    .venv/bin/python -m benchmarks.knowledge_base.bench_search [--entries 50000]

Prints build time, p50/p95/max latency for queries with and without filters, and the
paraphrase accuracy of the demo KB when hidden among the synthetic entries.
"""

from __future__ import annotations

import argparse
import statistics
import time

from benchmarks.knowledge_base.synthetic import synthetic_documents
from knowledge_base.evaluation import evaluate, load_documents, load_paraphrases
from knowledge_base.search import SearchIndex, SearchSettings, tokenize


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=50_000)
    args = parser.parse_args()

    documents = synthetic_documents(args.entries) + load_documents()
    SearchIndex(load_documents()[:5])  # jieba dictionary load, not part of the build
    started = time.perf_counter()
    tokens = [tokenize(d, SearchSettings()) for d in documents]
    tokenized = time.perf_counter() - started
    index = SearchIndex(documents, tokens=tokens)
    build = time.perf_counter() - started
    print(
        f"entries: {len(documents)}  cold index build: {build:.2f} s "
        f"(tokenizing {tokenized:.2f} s, BM25 matrices {build - tokenized:.2f} s)"
    )

    queries = [p.query for p in load_paraphrases()]
    for label, filters in [
        ("no filter", {}),
        ("category=交通", {"category": "交通"}),
        ("hotline=12345", {"hotline": "12345"}),
    ]:
        timings, cpu = [], []
        for query in queries:
            started, started_cpu = time.perf_counter(), time.thread_time()
            index.search(query, top=5, **filters)
            timings.append((time.perf_counter() - started) * 1000)
            cpu.append((time.thread_time() - started_cpu) * 1000)
        # CPU time too: on shared cores the wall-clock tail is mostly other processes.
        print(
            f"search {label:>14}: n={len(timings)} p50={statistics.median(timings):.2f} ms "
            f"p95={percentile(timings, 0.95):.2f} ms max={max(timings):.2f} ms "
            f"(CPU p50={statistics.median(cpu):.2f} p95={percentile(cpu, 0.95):.2f} ms)"
        )
    accuracy = evaluate(index, load_paraphrases())
    print(
        f"paraphrases among {len(documents)} entries: top1={accuracy.top1:.3f} "
        f"top5={accuracy.top5:.3f}"
    )


if __name__ == "__main__":
    main()

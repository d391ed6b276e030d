"""Knowledge base (知识库): entries with question variants, review workflow, versions,
and a fast in-memory search (BM25 over characters, words and pinyin + rapidfuzz).

Server entry point: `knowledge_base.live_index.KnowledgeBase`; use cases in
`knowledge_base.services`; CLI in `knowledge_base.cli` (`python -m knowledge_base`).
"""

"""`qa-app check`: verify that SQLite, the FAISS file and the BM25 index agree, and rebuild what does not."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qa_app.index import VectorIndex
from qa_app.lexical import LexicalIndex
from qa_app.library import Library


@dataclass
class CheckReport:
    """Problems found (empty means healthy), what was repaired, and the index facts checked."""

    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"ok": not self.problems, "problems": self.problems, "repaired": self.repaired, **self.facts}


def _database_problems(library: Library) -> list[str]:
    store = library._store
    problems = [f"database: {row[0]}" for row in store._query("PRAGMA integrity_check") if row[0] != "ok"]
    problems += [f"database: chunk of missing document ({row[0]})" for row in store._query("PRAGMA foreign_key_check")]
    dimension = int(store.meta("dimension") or 0)
    bad_vectors = store._query("SELECT COUNT(*) FROM chunks WHERE length(vector) != ?", (4 * dimension,))[0][0]
    if bad_vectors:
        problems.append(f"database: {bad_vectors} chunk vectors are not {dimension}-dimensional")
    bad_offsets = store._query(
        "SELECT COUNT(*) FROM chunks c JOIN documents d ON d.doc_id = c.doc_id"
        " WHERE c.start < 0 OR c.end <= c.start OR c.end > length(d.text)"
    )[0][0]
    if bad_offsets:
        problems.append(f"database: {bad_offsets} chunks point outside their document's text")
    empty = store._query(
        "SELECT COUNT(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.doc_id = d.doc_id)"
    )
    if empty[0][0]:
        problems.append(f"database: {empty[0][0]} documents have no chunks")
    return problems


def _derived_problems(library: Library, generation: int, chunk_ids: np.ndarray) -> list[str]:
    problems = []
    expected = set(chunk_ids.tolist())
    vector_path, lexical_path = library._vector_path(generation), library._lexical_path(generation)
    if len(expected) and not vector_path.exists():
        problems.append(f"{vector_path.name} is missing (the vectors of generation {generation})")
    elif vector_path.exists():
        try:
            vectors = VectorIndex.load(vector_path)
            if set(vectors.ids().tolist()) != expected:
                problems.append(f"{vector_path.name} holds {len(vectors)} vectors, the database {len(expected)} chunks")
            elif len(expected) and vectors.dimension != library._dimension():
                problems.append(f"{vector_path.name} has dimension {vectors.dimension}, not {library._dimension()}")
        except RuntimeError as exc:
            problems.append(f"{vector_path.name} is unreadable ({exc})")
    if len(expected) and not lexical_path.exists():
        problems.append(f"{lexical_path.name} is missing (the BM25 index of generation {generation})")
    current = {vector_path.name, lexical_path.name}
    if lexical_path.exists():
        try:
            lexical = LexicalIndex.load(lexical_path)
            current.add(lexical.main_name)
            if set(lexical.ids.tolist()) != expected:
                problems.append(f"{lexical_path.name} does not cover the same chunks as the database")
        except (OSError, ValueError, KeyError) as exc:
            problems.append(f"{lexical_path.name} is unreadable ({exc})")
    kinds = ("vectors-", "bm25-", "bm25main-")
    for path in library.index_dir.iterdir():
        if path.name.startswith(kinds + tuple(f".{kind}" for kind in kinds)) and path.name not in current:
            problems.append(f"{path.name} is left over from an older generation or an interrupted write")
    return problems


def check_index(library: Library, repair: bool = False) -> CheckReport:
    """Check the index directory; with `repair`, rebuild the FAISS and BM25 files from SQLite and check again."""
    report = CheckReport()
    generation = library._store.generation()
    chunk_ids, _ = library._store.vectors()
    documents, chunks = library.counts()
    report.facts = {"documents": documents, "chunks": chunks, "generation": generation,
                    "model": library._store.meta("model")}  # fmt: skip
    report.problems = _database_problems(library) + _derived_problems(library, generation, chunk_ids)
    if repair and report.problems:
        report.repaired = library.rebuild_derived()
        generation = library._store.generation()
        chunk_ids, _ = library._store.vectors()
        report.problems = _database_problems(library) + _derived_problems(library, generation, chunk_ids)
    return report

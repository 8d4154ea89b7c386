"""`qa-app check`: verify that SQLite, the FAISS file and the BM25 index agree, and rebuild what does not."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qa_app import vector_codec
from qa_app.errors import DatabaseDamagedError
from qa_app.index import VectorIndex
from qa_app.index_files import is_index_file
from qa_app.lexical import LexicalIndex
from qa_app.library import Library

_VECTOR_TOLERANCE = 1e-6  # FAISS stores the float32 vectors SQLite holds, bit for bit
DAMAGED_ADVICE = ("restore library.sqlite from a backup, or move the index directory aside and "
                  "index the articles again with `qa-app index`")  # fmt: skip


_FACTS = ("documents", "chunks", "generation", "model")


@dataclass
class CheckReport:
    """Problems found (empty means healthy), what was repaired, and the index facts checked."""

    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=lambda: dict.fromkeys(_FACTS))  # null until read

    def to_json(self) -> dict[str, object]:
        return {"ok": not self.problems, "problems": self.problems, "repaired": self.repaired, **self.facts}


def _database_problems(library: Library) -> list[str]:
    store = library.store
    problems = [f"database damaged: {row[0]}" for row in store._query("PRAGMA integrity_check") if row[0] != "ok"]
    if problems:  # the other checks would read damaged pages
        return [*problems[:10], DAMAGED_ADVICE]
    problems += [f"database: chunk of missing document ({row[0]})" for row in store._query("PRAGMA foreign_key_check")]
    dimension = int(store.meta("dimension") or 0)
    lengths = vector_codec.chunk_row_lengths(dimension)  # float16, or float32 in rows written before
    bad_vectors = store._query("SELECT COUNT(*) FROM chunks WHERE length(vector) NOT IN (?, ?)", lengths)[0][0]
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


def _vector_differences(name: str, vectors: VectorIndex, chunk_ids: np.ndarray, stored: np.ndarray) -> list[str]:
    """Chunks whose vector in the FAISS file is not the one SQLite holds (a damaged or tampered file)."""
    ids, held = vectors.stored()
    order = np.argsort(ids)
    differ = ~np.all(np.abs(held[order] - stored[np.argsort(chunk_ids)]) <= _VECTOR_TOLERANCE, axis=1)
    if not differ.any():
        return []
    bad = ids[order][differ]
    return [f"{name}: {len(bad)} vectors differ from the database (chunk ids {', '.join(map(str, bad[:5]))}"
            f"{', …' if len(bad) > 5 else ''})"]  # fmt: skip


def _derived_problems(library: Library, generation: int, chunk_ids: np.ndarray, stored: np.ndarray) -> list[str]:
    problems = []
    expected = set(chunk_ids.tolist())
    vector_path, lexical_path = library.indexes.vector_path(generation), library.indexes.lexical_path(generation)
    if len(expected) and not vector_path.exists():
        problems.append(f"{vector_path.name} is missing (the vectors of generation {generation})")
    elif vector_path.exists():
        try:
            vectors = VectorIndex.load(vector_path)
            if set(vectors.ids().tolist()) != expected:
                problems.append(f"{vector_path.name} holds {len(vectors)} vectors, the database {len(expected)} chunks")
            elif len(expected) and vectors.dimension != library.indexes.dimension():
                dimension = library.indexes.dimension()
                problems.append(f"{vector_path.name} has dimension {vectors.dimension}, not {dimension}")
            else:
                problems += _vector_differences(vector_path.name, vectors, chunk_ids, stored)
        except RuntimeError as exc:
            problems.append(f"{vector_path.name} is unreadable ({str(exc).splitlines()[-1]})")
    if len(expected) and not lexical_path.exists():
        problems.append(f"{lexical_path.name} is missing (the BM25 index of generation {generation})")
    current = {vector_path.name, lexical_path.name, LexicalIndex.named_main(lexical_path)}
    if lexical_path.exists():
        try:
            lexical = LexicalIndex.load(lexical_path)
            current.add(lexical.main_name)
            if set(lexical.ids.tolist()) != expected:
                problems.append(f"{lexical_path.name} does not cover the same chunks as the database")
        except (OSError, ValueError, KeyError) as exc:
            problems.append(f"{lexical_path.name} is unreadable ({exc})")
    for path in library.index_dir.iterdir():
        if is_index_file(path.name) and path.name not in current:
            problems.append(f"{path.name} is left over from an older generation or an interrupted write")
    return problems


def check_index(library: Library, repair: bool = False) -> CheckReport:
    """Check the index directory; with `repair`, rebuild the FAISS and BM25 files from SQLite and check again."""
    report = CheckReport()
    try:
        documents, chunks = library.counts()
        report.facts = {"documents": documents, "chunks": chunks, "generation": library.store.generation(),
                        "model": library.store.meta("model")}  # fmt: skip
        report.problems = _problems(library)
        if repair and report.problems and DAMAGED_ADVICE not in report.problems:
            report.repaired = library.rebuild_derived()
            report.problems = _problems(library)
    except DatabaseDamagedError as exc:  # nothing can be rebuilt from a damaged source of truth
        report.problems.append(str(exc))
    return report


def _problems(library: Library) -> list[str]:
    problems = _database_problems(library)
    if DAMAGED_ADVICE in problems:  # the derived files cannot be judged against a damaged database
        return problems
    chunk_ids, stored = library.store.vectors()
    return problems + _derived_problems(library, library.store.generation(), chunk_ids, stored)

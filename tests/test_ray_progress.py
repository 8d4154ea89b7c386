"""`qa-app index --ray` groups, names and counts files like in-process indexing (#13, #12), on a real local Ray."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa_app import ingest
from qa_app import library as library_module
from qa_app.config import Settings
from qa_app.distributed import RayOptions, index_with_ray
from qa_app.embedder import SentenceTransformerEmbedder
from qa_app.library import Library, Progress

GROUP_CHUNKS = 3  # small write groups, so that a few files make several commits


def _files(folder: Path) -> Path:
    folder.mkdir()
    for n, (topic, sentences) in enumerate([("ferry", 6), ("tram", 30), ("market", 8), ("bridge", 12)]):
        text = " ".join(f"The {topic} board met for session {k} and approved item {k + n}." for k in range(sentences))
        (folder / f"{n}-{topic}.md").write_text(f"# The {topic} board\n\n{text}\n", encoding="utf-8")
    (folder / "bad.pdf").write_bytes(b"%PDF-1.4 not really")
    return folder


def _commits(progress: list[Progress]) -> list[tuple[int, tuple[str, ...]]]:
    return [(p.docs_done, tuple(Path(name).name for name in p.saved)) for p in progress if p.saved]


def test_ray_commits_names_and_counts_files_as_in_process_indexing(
    tmp_path: Path, model: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ingest, "WRITE_GROUP_CHUNKS", GROUP_CHUNKS)
    monkeypatch.setattr(library_module, "_WRITE_GROUP_CHUNKS", GROUP_CHUNKS)
    folder = _files(tmp_path / "articles")
    in_process: list[Progress] = []
    reference = Library(Settings(index_dir=tmp_path / "in-process", chunk_words=40, max_chunk_words=60), embedder=model)
    expected = reference.add([folder], progress=in_process.append)
    reference.close()
    on_ray: list[Progress] = []
    library = Library(Settings(index_dir=tmp_path / "ray", chunk_words=40, max_chunk_words=60), embedder=model)
    try:
        results = index_with_ray(library, [folder], RayOptions(embedders=2, cpus_per_embedder=0.5), on_ray.append)
    finally:
        library.close()
    assert len(_commits(in_process)) >= 3  # the files really are split over several commits
    assert _commits(on_ray) == _commits(in_process)  # same groups, same names, in the same order
    last, want = on_ray[-1], in_process[-1]
    assert (last.docs_done, last.docs_total, last.chunks_done, last.chunks_total) == (4, 4, want.chunks_total,
                                                                                      want.chunks_total)  # fmt: skip
    totals = [(p.docs_total, p.chunks_total) for p in on_ray]  # grow as read tasks count their files, then stay
    assert totals == sorted(totals) and all(0 < docs <= 4 for docs, _ in totals)
    embedded = [p.docs_embedded for p in on_ray]
    assert embedded == sorted(embedded) and set(range(1, 5)) <= set(embedded)
    assert all(p.docs_embedded >= p.docs_done for p in on_ray)
    key = lambda r: (r.status, Path(r.file or r.source).name, r.chunks, r.reason)  # noqa: E731
    assert sorted(map(key, results)) == sorted(map(key, expected))  # failures and results name their files too

"""Settings: one dataclass, read from CLI flags, then QA_APP_* environment variables, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from qa_app.errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DB_NAME = "library.sqlite"  # an index directory's database (a folder holding one is an index, never indexed)
SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".json", ".jsonl")
DEFAULT_MAX_PDF_PAGES = 2_000
DEFAULT_MAX_TEXT_CHARS = 5_000_000
DEFAULT_MAX_RECORDS = 100_000  # per JSON or JSONL file
DEFAULT_MAX_METADATA_CHARS = 65_536  # per article, as JSON
DEFAULT_MAX_PDF_CONTENT_MB = 256.0  # decoded page content streams per PDF (a page shared 2,000 times counts 2,000)
DEFAULT_MAX_PDF_SECONDS = 120.0  # text extraction per PDF


@dataclass(frozen=True)
class Settings:
    """Every tunable of the app. Environment names are `QA_APP_` + the upper-cased field name."""

    index_dir: Path = Path("embeddings")
    embedding_model: str = DEFAULT_MODEL
    max_file_mb: float = 50.0
    max_pdf_pages: int = DEFAULT_MAX_PDF_PAGES  # refused before any page is read
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS  # per document, after normalisation
    max_records: int = DEFAULT_MAX_RECORDS  # articles per JSON or JSONL file
    max_metadata_chars: int = DEFAULT_MAX_METADATA_CHARS  # an article's metadata, as JSON
    max_pdf_content_mb: float = DEFAULT_MAX_PDF_CONTENT_MB  # decoded page content per PDF, refused before reading
    max_pdf_seconds: float = DEFAULT_MAX_PDF_SECONDS  # text extraction time per PDF
    max_upload_files: int = 100  # per upload in the web app
    follow_links: bool = False  # follow symbolic links that lead out of a folder being indexed
    lock_timeout: float = 600.0  # seconds a writer waits for another writer's lock before it gives up
    chunk_words: int = 200
    max_chunk_words: int = 300
    embed_batch_size: int = 32
    embedding_backend: str = "torch"  # torch | onnx (int8-quantised ONNX export; see README, "Performance")
    embedding_precision: str = "auto"  # auto | float32 | bfloat16, of the torch backend (auto: bfloat16 on AMX CPUs)
    sentence_vectors: str = "int8"  # int8 | float16: how new sentence and title vectors are stored (README)
    sentence_vectors_from: str = "chunks"  # chunks | sentences: pooled from the chunk pass, or embedded alone (README)
    ivf_threshold: int = 200_000  # chunks: exact FAISS search below, IVF at and above (see README, "Performance")
    ivf_nprobe: int = 32  # IVF lists searched per query
    top_k: int = 8
    retrieval_mode: str = "hybrid"  # hybrid | dense | lexical
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    max_per_doc: int = 6
    candidates: int = 50  # per retriever, before fusion
    # abstain when the answer's probability (calibrated) is below this; negative = the answer model's own operating
    # point, chosen on its dev split (the manifest's "threshold" of the reader, or of the scorer when the reader
    # is off; README, "Abstention")
    min_answer_score: float = -1.0
    answer_reader: bool = True  # the cross-encoder reads the scorer's top sentences (README, "Answer reader")
    max_answer_sentences: int = 3
    # optional generative answers through an OpenAI-compatible server (see README, "Generative answers")
    llm_base_url: str = ""  # e.g. http://127.0.0.1:11434/v1; empty = extractive answers only
    llm_model: str = ""  # empty = let the server choose (llama.cpp); Ollama and vLLM need a name
    llm_api_key: str = field(default="", repr=False)  # sent as a Bearer token when set; never printed
    llm_timeout: float = 30.0  # seconds to connect, and to wait for each piece of the stream
    llm_retries: int = 2  # extra attempts after a 5xx answer or a refused connection, with backoff
    llm_max_tokens: int = 400
    llm_drop_unsupported: bool = False  # leave unsupported generated sentences out (default: shown, marked)
    llm_min_support: float = 0.5  # cosine of a generated sentence to its best quote (calibrated, see README)
    # the HTTP API, article URLs and feeds (see README, "HTTP API" and "Article URLs and news feeds")
    admin_token: str = field(default="", repr=False)  # QA_APP_ADMIN_TOKEN: API writes need it; never printed
    max_request_mb: float = 100.0  # one API request's body; each file in it is also held to max_file_mb
    fetch_timeout: float = 20.0  # seconds: to connect, between two reads, and in all for one page or feed
    fetch_max_redirects: int = 5
    allow_private_urls: bool = False  # fetch from loopback, private and link-local addresses (intranet, tests)

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_request_mb * 1024 * 1024)


def _convert(value: str, default: Any, name: str) -> Any:
    try:
        if isinstance(default, Path):
            return Path(value)
        if isinstance(default, bool):  # bool("0") is True
            return {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False,
                    "off": False}[value.strip().lower()]  # fmt: skip
        return type(default)(value)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"QA_APP_{name.upper()}={value!r} is not a valid {type(default).__name__}") from exc


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with non-None `overrides` (CLI flags) taking precedence."""
    settings = Settings()
    from_env: dict[str, Any] = {}
    for f in fields(Settings):
        raw = os.environ.get(f"QA_APP_{f.name.upper()}")
        if raw:
            from_env[f.name] = _convert(raw, getattr(settings, f.name), f.name)
    flags = {key: value for key, value in overrides.items() if value is not None}
    settings = replace(settings, **{**from_env, **flags})
    if settings.chunk_words < 10 or settings.max_chunk_words < settings.chunk_words:
        raise ConfigError("chunk_words must be >= 10 and max_chunk_words >= chunk_words")
    if settings.sentence_vectors_from not in ("sentences", "chunks"):
        raise ConfigError(f"QA_APP_SENTENCE_VECTORS_FROM={settings.sentence_vectors_from!r}: use sentences or chunks")
    return settings

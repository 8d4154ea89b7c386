"""The process `qa-app serve` becomes: Streamlit, with the chat page's modules and models loaded while it starts.

Streamlit imports a page's modules on its first run, when the first reader opens the page: the package, pandas
and altair, then the question model and the answer reader in the Library's warm-up. Here a thread starts that
work as the process starts, beside Streamlit's own start-up, so the first page run finds the modules imported
and the models loaded (the question model's session and the answer judge are cached per process). Run as
`python -m qa_app.app.server PAGE [streamlit run options]`; the arguments go to `streamlit run` unchanged.
"""

from __future__ import annotations

import logging
import sys
import threading

log = logging.getLogger(__name__)


def prewarm() -> None:
    """Import what the chat page imports and load the models its first question needs (best effort)."""
    try:
        from qa_app.app import export, render, state, widgets  # noqa: F401  (the chat page's imports)
        from qa_app.config import load_settings
        from qa_app.embedder import SentenceTransformerEmbedder
        from qa_app.query_encoder import QueryEncoder
        from qa_app.reader import packaged_judge

        settings = load_settings()
        questions = QueryEncoder(SentenceTransformerEmbedder(settings.embedding_model))
        if settings.embedding_backend == "torch" and questions.export_path.is_file():  # else the page loads torch
            questions.embed(["warm up"])
        judge = packaged_judge(settings.answer_reader)
        if judge.reader is not None:
            judge.reader.load_now()
    except Exception as exc:  # the page loads them again and reports any error
        log.warning("pre-loading the chat page failed: %s", exc)


def main() -> None:
    threading.Thread(target=prewarm, name="qa-app-prewarm", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", *sys.argv[1:]]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()

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
        from qa_app.app import answer_view, cards, export, page_assets, render, state, widgets  # noqa: F401  (the chat page's imports)
        from qa_app.library import preload_answer_models

        preload_answer_models()
    except Exception as exc:  # the page loads them again and reports any error
        log.warning("pre-loading the chat page failed: %s", exc)


def main() -> None:
    threading.Thread(target=prewarm, name="qa-app-prewarm", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", *sys.argv[1:]]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()

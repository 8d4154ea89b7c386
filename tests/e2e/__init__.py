"""Real-browser tests, and test data shared with the AppTest tests of the UI."""

from __future__ import annotations

import json
from pathlib import Path

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
XSS_QUESTION = "How much will the Springfield tram line cost?"
XSS_RECORD = {
    "title": f"Springfield council backs tram line {SCRIPT}{IMG}",
    "body": (
        f"The Springfield city council voted on Tuesday to build a tram line along Main Street {SCRIPT}. "
        f"The Springfield tram line {IMG} will cost 80 million dollars and open in 2027. "
        "Mayor Lena Brooks said the tram would cut traffic in the city centre."
    ),
    "published_at": "2025-04-10",
    "source": f"Gazette {IMG}",
    "author": SCRIPT,
    "url": "https://example.com/springfield-tram",
}


def write_xss_article(folder: Path) -> Path:
    """A JSONL article whose title, body and metadata carry HTML that must never run."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "springfield-tram.jsonl"
    path.write_text(json.dumps(XSS_RECORD) + "\n", encoding="utf-8")
    return path

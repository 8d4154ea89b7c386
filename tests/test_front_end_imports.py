"""The UI, CLI and API use the façade (`qa_app.library`) and the records, not the parts behind them."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "qa_app"
FRONT_ENDS = [
    *sorted((PACKAGE / "app").rglob("*.py")),
    *sorted((PACKAGE / "api").rglob("*.py")),
    *(PACKAGE / name for name in ("cli.py", "cli_feeds.py", "cli_text.py", "contract.py", "terminal.py")),
]
PUBLIC = {"qa_app", "qa_app.library", "qa_app.records", "qa_app.errors", "qa_app.config", "qa_app.version"}
# entry points of their own beside the Library: URLs fetched, feeds polled, a Ray job, the index check
SIBLINGS = {"qa_app.fetch", "qa_app.feeds", "qa_app.distributed", "qa_app.integrity"}
FRONT_END_PACKAGES = ("qa_app.app", "qa_app.api", "qa_app.cli", "qa_app.contract", "qa_app.terminal")


def _qa_app_imports(path: Path) -> set[str]:
    """Every qa_app module `path` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name == "qa_app" or name.startswith("qa_app.")}


def test_front_ends_import_only_the_facade_the_records_and_each_other() -> None:
    assert len(FRONT_ENDS) > 15  # the probe found the pages, the API and the CLI
    internal = {
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in FRONT_ENDS
        for name in _qa_app_imports(path)
        if name not in PUBLIC | SIBLINGS and not name.startswith(FRONT_END_PACKAGES)
    }
    assert sorted(internal) == []

"""`python -m qa_app` runs the CLI."""

from qa_app.cli import main

main()

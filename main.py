"""Netdraft: `python main.py` opens the designer; `python main.py COMMAND ...` runs the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

CLI_COMMANDS = {"templates", "new", "validate", "summary", "train", "evaluate", "predict",
                "export", "import", "profile", "-h", "--help"}


def looks_like_a_file(word: str) -> bool:
    """Whether the designer should open ``word``: an existing path, or one that reads as a
    path (a folder separator or a suffix such as .netdraft). A bare word is a command."""
    return (Path(word).exists() or "/" in word or "\\" in word
            or bool(Path(word).suffix))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in CLI_COMMANDS:
        from engine.cli import run

        return run(argv)
    if argv and not argv[0].startswith("-") and not looks_like_a_file(argv[0]):
        # A command that this file does not list (added since) runs; a typo is an error,
        # never the designer opening a file named after it.
        from engine.cli import run, unknown_command

        message = unknown_command(argv[0])
        if message is None:
            return run(argv)
        print(f"error: {message}", file=sys.stderr)
        return 2
    from designer.app import run_designer

    return run_designer(argv)


if __name__ == "__main__":
    sys.exit(main())

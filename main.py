"""Netdraft: `python main.py` opens the designer; `python main.py COMMAND ...` runs the CLI."""

from __future__ import annotations

import sys

CLI_COMMANDS = {"templates", "new", "validate", "summary", "train", "export", "import",
                "-h", "--help"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in CLI_COMMANDS:
        from engine.cli import run

        return run(argv)
    from designer.app import run_designer

    return run_designer(argv)


if __name__ == "__main__":
    sys.exit(main())

"""The Netdraft designer: PySide6 views and undoable commands over the engine."""

"""What Train, Stop and Resume do: save the project first (the trainer reads the file, never
a stale copy), choose the run folder in `runs/` beside the project, start the trainer as a
subprocess and tell the panels what happens. A failure names its block on the canvas; a
trainer that dies without a word leaves the window working and the run resumable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox

from designer.training_process import TrainingProcess
from engine import runs
from engine.validate import Code, Problem

if TYPE_CHECKING:
    from designer.main_window import MainWindow


class TrainController(QObject):
    run_started = Signal(str)        # run folder
    run_ended = Signal(str, str)     # run folder, what happened (finished, failed, killed…)
    weights_used = Signal(str)       # run folder whose weights the project now holds

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.process = TrainingProcess(self)
        self.last_run: Path | None = None
        self.process.ended.connect(self._ended)
        self.process.event.connect(self._event)

    def _event(self, event: dict) -> None:
        if event.get("event") == "telemetry" and isinstance(event.get("blocks"), dict):
            self.window.telemetry.show(event["blocks"])

    @property
    def panel(self):
        return self.window.training_panel

    def attach(self, panel) -> None:
        """The Training panel came to life: it shows the process and drives the buttons."""
        self.process.event.connect(panel.on_event)
        self.process.log_line.connect(panel.add_log)
        panel.train_button.clicked.connect(self.train)
        panel.stop_button.clicked.connect(self.stop)
        panel.resume_button.clicked.connect(lambda: self.resume())
        panel.set_running(self.running, resumable=self.resume_target() is not None)

    @property
    def running(self) -> bool:
        return self.process.running

    # ------------------------------------------------------------- actions
    def train(self) -> bool:
        doc = self.window.doc
        if self.running:
            return False
        self.window.show_panel("training")
        blocking = [p for p in doc.analysis.problems if p.code not in (Code.DATA, Code.RUN)]
        if blocking:
            count = len(blocking)
            self.panel.show_error(f"The network has {count} problem{'s' if count > 1 else ''}"
                                  f"; fix {'them' if count > 1 else 'it'} first: "
                                  f"{blocking[0]}")
            self.window.docks["problems"].raise_()
            return False
        if not self.ensure_saved():
            self.panel.status.setText("Not started: the project must be saved first.")
            return False
        run_dir = runs.new_run_dir(doc.path, doc.project.name)
        self._start(run_dir, resume=False)
        return True

    def resume(self, run_dir: str | Path | None = None) -> bool:
        if self.running:
            return False
        self.window.show_panel("training")
        target = Path(run_dir) if run_dir else self.resume_target()
        if target is None:
            self.panel.show_error("No run to resume: train first, or pick a run in Run "
                                  "History.")
            return False
        info = runs.read_run(target)
        if not info.resumable:
            self.panel.show_error(f"{target.name} cannot be resumed: it has no checkpoint "
                                  f"({info.status}).")
            return False
        doc = self.window.doc
        extra: list[str] = []
        if info.status in ("finished", "early_stopped"):
            # A finished run continues only towards more epochs: the project's, if larger.
            wanted = int(doc.settings("training")["epochs"])
            if wanted <= info.epochs_done:
                self.panel.show_error(
                    f"{target.name} has finished its {info.epochs_done} epochs: set epochs "
                    f"above {info.epochs_done} in the Training settings to train it further.")
                return False
            extra = ["--epochs", str(wanted)]
        project_file = doc.path
        if project_file is None and info.project_file:
            project_file = Path(info.project_file)
        if project_file is None and not self.ensure_saved():
            return False
        self._start(target, resume=True, rows=info.rows,
                    project_file=project_file or self.window.doc.path, extra=extra)
        return True

    def resume_target(self) -> Path | None:
        runs_panel = self.window.training_side.existing("runs")
        selected = runs_panel.selected_runs() if runs_panel is not None else []
        if len(selected) == 1:
            return selected[0].path
        if self.last_run is not None:
            return self.last_run
        doc = self.window.doc
        if doc.path is None:
            return None
        found = [r for r in runs.list_runs(runs.runs_dir_for(doc.path)) if r.resumable]
        return found[0].path if found else None

    def stop(self) -> None:
        if self.running:
            self.panel.status.setText("Stopping: the trainer finishes its step and keeps an "
                                      "'interrupted' checkpoint…")
            self.process.stop()

    def confirm_close(self) -> bool:
        """Closing the window while a run trains: stop it cleanly (its interrupted
        checkpoint kept) or stay open."""
        if not self.running:
            return True
        answer = QMessageBox.question(
            self.window, "A run is training",
            "Stop the run and close? It keeps an 'interrupted' checkpoint, so Resume "
            "continues it later.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.process.stop()
        if not self.process.process.waitForFinished(15000):
            self.process.kill()
        return True

    def ensure_saved(self) -> bool:
        doc = self.window.doc
        if doc.path is not None and not doc.modified:
            return True
        if self.ask_save() != QMessageBox.StandardButton.Save:
            return False
        return self.window.files.save()

    def ask_save(self) -> QMessageBox.StandardButton:
        name = self.window.doc.title
        box = QMessageBox(QMessageBox.Icon.Question, "Save before training",
                          f"The trainer reads the saved project. Save {name} and train it?",
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
                          self.window)
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        return QMessageBox.StandardButton(box.exec())

    # --------------------------------------------------------------- running
    def _start(self, run_dir: Path, resume: bool, rows: list | None = None,
               project_file: Path | None = None, extra: list[str] | None = None) -> None:
        doc = self.window.doc
        doc.set_run_problems({})
        self.window.telemetry.clear()
        self.last_run = Path(run_dir)
        self.panel.begin(str(run_dir), rows if resume else None)
        self.panel.set_running(True, resumable=False)
        self.process.start(Path(project_file or doc.path), Path(run_dir), resume=resume,
                           extra=extra)
        self.run_started.emit(str(run_dir))
        self.window.show_message(("Resuming " if resume else "Training into ") + str(run_dir))

    def _ended(self, code: int, what: str) -> None:
        run_dir = self.process.run_dir
        info = runs.read_run(run_dir) if run_dir is not None and run_dir.exists() else None
        resumable = bool(info and info.resumable)
        self.panel.set_running(False, resumable=resumable)
        if what in ("killed", "crashed", "not started"):
            how = "was killed by a signal" if code < 0 else f"exited with code {code}"
            where = (f"; the run keeps its checkpoint of epoch {info.epochs_done}: press "
                     "Resume to continue from it" if resumable and info else
                     "; it wrote no checkpoint, so train again")
            self.panel.show_error(f"The trainer stopped without a message: it {how} "
                                  f"(killed, or out of memory?){where}.")
            self.panel.status.setText("Stopped unexpectedly.")
        elif what == "failed" and self.process.last_error is not None:
            self._mark_blocks(self.process.last_error.get("message", ""))
        elif what == "interrupted":
            self.panel.status.setText("Stopped: the 'interrupted' checkpoint is kept; Resume "
                                      "continues from it.")
        self.window.show_message(f"Training {what}: {run_dir}")
        self.run_ended.emit(str(run_dir), what)

    # ------------------------------------------------------------ weights
    def use_weights(self, run_dir: str | Path) -> None:
        """Make a run's best (else last) checkpoint the project's stored weights: written
        beside the project as NAME-RUN.safetensors, the weights section changed undoably."""
        doc = self.window.doc
        if doc.path is None and not self.ensure_saved():
            return
        project_path, run_dir = Path(doc.path), Path(run_dir)
        node_ids = set(doc.graph.nodes)
        file_name = f"{project_path.stem}-{run_dir.name}.safetensors"

        def work(_job):
            from engine import weights
            from engine.importers.runs import import_run

            imported = import_run(run_dir)
            tensors = {k: v for k, v in imported.tensors.items() if k in node_ids}
            if not tensors:
                raise ValueError(f"{run_dir.name}: none of its blocks is in this network "
                                 "any more")

            class Holder:
                weights: dict = {}

            weights.save(Holder, project_path, tensors, "trained", file_name)
            return Holder.weights, len(tensors), imported.notes

        def done(result) -> None:
            section, count, notes = result
            from designer import commands

            commands.execute(doc, commands.set_weights(
                doc, section, f"Use the weights of {run_dir.name}"))
            self.window.show_message(f"{count} blocks now hold the weights of {run_dir.name}"
                                     f" ({file_name}); save the project to keep them")
            self.weights_used.emit(str(run_dir))

        def failed(message: str) -> None:
            self.window.files.show_error("Use these weights", message)

        from designer import workers

        self._weights_job = workers.start(work, done, failed, parent=self)

    def _mark_blocks(self, message: str) -> None:
        """Put a failed run's message on the blocks it names ("Output 'out' …")."""
        doc = self.window.doc
        named = {n.id: Problem(n.id, Code.RUN, f"Training failed: {message}",
                               "fix the block and train again")
                 for n in doc.graph.leaves() if f"'{n.name}'" in message}
        if named:
            doc.set_run_problems(named)

"""Building with the keyboard alone: the palette's search adds the block it names (with the
parameters typed after the name), below and connected to the selected one, then clears for
the next. The Keras MNIST CNN from File > New in at most 15 actions."""

from __future__ import annotations

from designer_helpers import flush
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

# File > New, then one search + Enter per block (each counts as one action).
MNIST = ["input 1x28x28", "conv 32 3x3 relu", "maxpool 2", "conv 64 3x3 relu", "maxpool 2",
         "flatten", "dense 64 relu", "dense 10 softmax", "output 10"]


def _type_and_enter(qtbot, text: str) -> None:
    """Keys go where the focus is, as a person's would."""
    widget = QApplication.focusWidget()
    assert widget is not None, "nothing has the keyboard focus"
    qtbot.keyClicks(widget, text)
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)


def test_the_keras_mnist_cnn_is_built_from_file_new_with_the_keyboard_alone(window, qtbot):
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None)
    actions = 1
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.doc.graph.nodes == {}
    assert QApplication.focusWidget() is window.palette.search
    for text in MNIST:
        _type_and_enter(qtbot, text)
        actions += 1
        flush(window)
        # The box clears and keeps the focus: the next word does not append to this one.
        assert window.palette.search.text() == ""
        assert QApplication.focusWidget() is window.palette.search
    assert actions <= 15
    graph = window.doc.graph
    order = [graph.nodes[i] for i in window.doc.analysis.order]
    assert [n.kind for n in order] == ["Input", "Conv2D", "MaxPool2D", "Conv2D", "MaxPool2D",
                                       "Flatten", "Dense", "Dense", "Output"]
    for a, b in zip(order, order[1:]):
        assert graph.predecessors(b.id) == [a.id]
    assert not window.doc.analysis.problems
    assert [r.output_shape for r in window.summary.model.rows] == [
        "32×26×26", "32×13×13", "64×11×11", "64×5×5", "1600", "64", "10"]
    assert [r.params for r in window.summary.model.rows if r.params] == [
        320, 18_496, 102_464, 650]
    assert "Total params: 121,930" in window.summary.footer.text()
    # Each block went below the one before it (the chain reads top to bottom).
    ys = [window.doc.position(n.id)[1] for n in order]
    assert ys == sorted(ys) and len(set(ys)) == len(ys)


def test_search_names_the_block_itself_before_a_mention_in_another_help(window, qtbot):
    palette = window.palette
    window.scene.select_ids([window.doc.graph.by_name("pool1").id])
    qtbot.keyClicks(palette.search, "flatten")
    assert palette.tree.currentItem().text(0) == "Flatten"
    palette.search.clear()
    qtbot.keyClicks(palette.search, "output")
    assert palette.tree.currentItem().text(0) == "Output"
    QTest.keyClick(palette.search, Qt.Key.Key_Return)
    flush(window)
    kinds = sorted(n.kind for n in window.doc.graph.nodes.values())
    assert kinds.count("Output") == 2 and kinds.count("Input") == 1
    assert palette.search.text() == ""


def test_a_search_that_matches_nothing_says_so(window, qtbot):
    palette = window.palette
    qtbot.keyClicks(palette.search, "conv2dmaxpool")
    assert palette.answer.isVisible() and "No block matches" in palette.answer.text()
    before = len(window.doc.graph.nodes)
    QTest.keyClick(palette.search, Qt.Key.Key_Return)
    assert len(window.doc.graph.nodes) == before
    palette.search.clear()
    qtbot.keyClicks(palette.search, "conv 32 bogus")
    assert "no parameter for 'bogus'" in palette.answer.text()
    QTest.keyClick(palette.search, Qt.Key.Key_Return)
    assert len(window.doc.graph.nodes) == before  # refused, with the reason shown
    palette.search.clear()
    qtbot.keyClicks(palette.search, "conv 32 relu")
    assert palette.answer.text() == "Enter adds Conv2D (filters 32, activation relu)"


def test_ctrl_k_puts_the_keyboard_in_the_search(window, qtbot):
    window.activateWindow()
    window.view.setFocus()
    qtbot.waitUntil(lambda: window.view.hasFocus())
    QTest.keyClick(window.view, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is window.palette.search

"""What the kit takes from a notebook: definitions, imports and constants; never training or plots."""
import json

import nbformat
import pytest

from autograder.notebook_code import code_cells, extract, extract_file, without_magics


def notebook_json(*cells: str, markdown: str = "Some text") -> str:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown)] +
                                        [nbformat.v4.new_code_cell(c) for c in cells])
    return nbformat.writes(notebook)


def test_keeps_definitions_imports_and_constants_only():
    program = extract([
        "import numpy as np\nfrom keras import layers\nSIZE = 28\nSHAPE: tuple = (SIZE, SIZE)\nNAMES = list(range(3))",
        "data = np.load('train.npz')\nmodel = build()\nmodel.fit(data)\nprint('training')",
        "@staticmethod\ndef build():\n    return SIZE\n\nclass Callback:\n    pass",
        "if __name__ == '__main__':\n    build()",
        "model.trainable = False\nx = compute()\nfor i in range(3):\n    pass",
    ], "a.ipynb")
    assert program.source.splitlines() == [
        "import numpy as np", "from keras import layers", "SIZE = 28", "SHAPE: tuple = (SIZE, SIZE)",
        "NAMES = list(range(3))", "@staticmethod", "def build():", "    return SIZE", "class Callback:", "    pass",
    ]
    compile(program.source, "a.py", "exec")


def test_try_blocks_of_imports_are_kept_and_others_dropped():
    program = extract(["try:\n    import tensorflow_datasets as tfds\nexcept ImportError:\n    tfds = None",
                       "try:\n    train()\nexcept Exception:\n    pass"], "a.ipynb")
    assert "import tensorflow_datasets" in program.source and "train()" not in program.source


def test_magics_and_shell_lines_are_blanked_so_line_numbers_stay():
    assert without_magics("%matplotlib inline\n!pip install x\nx = 1") == "\n\nx = 1"
    assert without_magics("%%time\nmodel.fit(x)\ny = 2") == "\n\n"
    program = extract(["%load_ext autoreload\ndef f():\n    return 1"], "a.ipynb")
    assert program.source == "def f():\n    return 1\n"
    assert program.locate(1) == (1, 2)  # program line 1 is line 2 of code cell 1


def test_line_map_points_into_the_right_cell():
    program = extract(["import os", "x = os.getcwd()", "def f():\n    a = 1\n    return a"], "a.ipynb")
    # os, then f (cell 3 lines 1-3); the call in cell 2 is dropped
    assert program.locate(1) == (1, 1)
    assert program.locate(4) == (3, 3)
    assert program.locate(5) is None
    assert program.line_map() == [[1, 1, 1, 1], [2, 3, 3, 1]]


def test_a_cell_that_does_not_parse_breaks_only_its_own_names():
    program = extract(["import os", "def good():\n    return 1", "def bad(:\n    return 2\n\nclass AlsoBad:\n    pass",
                       "def after():\n    return 3"], "hw.ipynb")
    assert set(program.broken_names) == {"bad", "AlsoBad"}
    message = program.broken_names["bad"]
    assert "code cell 3 of hw.ipynb, line 1" in message and "def bad(:" in message
    assert "def good" in program.source and "def after" in program.source and "bad" not in program.source


def test_a_later_cell_that_parses_repairs_a_broken_name():
    program = extract(["def f(:\n    pass", "def f():\n    return 1"], "a.ipynb")
    assert program.broken_names == {}
    program = extract(["def f():\n    return 1", "def f(:\n    pass"], "a.ipynb")
    assert set(program.broken_names) == {"f"}  # the last definition is the one the student meant


def test_code_cells_reads_lists_and_strings_and_skips_markdown():
    text = json.dumps({"cells": [{"cell_type": "code", "source": ["a = 1\n", "b = 2"]},
                                 {"cell_type": "markdown", "source": "# title"},
                                 {"cell_type": "code", "source": "def f():\n    pass"}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    assert code_cells(text) == ["a = 1\nb = 2", "def f():\n    pass"]


@pytest.mark.parametrize("text, reason", [
    ("{not json", "not valid notebook JSON"),
    ("[1, 2]", "not a notebook"),
    ('{"cells": 3}', "no list of cells"),
])
def test_an_unreadable_notebook_becomes_a_program_that_explains(tmp_path, text, reason):
    path = tmp_path / "cnn.ipynb"
    path.write_text(text, encoding="utf-8")
    program = extract_file(path)
    with pytest.raises(SyntaxError, match=reason):
        exec(compile(program.source, "cnn.py", "exec"), {})


def test_extract_file_reads_a_real_notebook(tmp_path):
    path = tmp_path / "fashion_mnist.ipynb"
    path.write_text(notebook_json("import numpy as np", "def normalize(x, y):\n    return x / 255.0, y",
                                  "history = model.fit(x, y, epochs=5)"), encoding="utf-8")
    program = extract_file(path)
    assert "def normalize" in program.source and "fit" not in program.source


def test_a_global_that_a_function_reads_is_kept_with_what_it_needs():
    program = extract([
        "import keras\nfrom keras import layers",
        "loss_fn = keras.losses.SparseCategoricalCrossentropy()\nhidden = layers.Dense(8)",
        "history = model.fit(x, y)\nunused = keras.Sequential()",
        "def build():\n    model = keras.Sequential([hidden])\n    model.compile(loss=loss_fn)\n    return model",
    ], "a.ipynb")
    assert "loss_fn = keras.losses" in program.source and "hidden = layers.Dense(8)" in program.source
    assert "fit" not in program.source and "unused" not in program.source


def test_a_global_built_from_names_that_are_not_kept_is_left_out():
    program = extract(["import tensorflow_datasets as tfds",
                       "data = load_everything()\nshape = data.shape",  # load_everything is defined nowhere
                       "def f():\n    return shape"], "a.ipynb")
    assert "shape =" not in program.source and "data =" not in program.source
    program = extract(["names = info.features['label'].names\nN_CLASSES = len(names)\nLIMIT: int"], "a.ipynb")
    assert program.source == "LIMIT: int\n"  # built from data that is never loaded: left out, not a NameError
    program = extract(["import numpy as np", "def g():\n    return table", "table = np.arange(3)"], "a.ipynb")
    assert "table = np.arange(3)" in program.source  # defined after the function: still fine at call time

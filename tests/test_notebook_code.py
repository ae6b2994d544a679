"""What the kit takes from a notebook: what a kernel would define, never what a kernel would run."""
import json
import logging
import sys

import nbformat
import pytest

from autograder.core.i18n import Text
from autograder.host.notebook_code import code_cells, extract, extract_file, without_magics
from autograder.worker.main import SubmissionOrigin, import_submission
from autograder.core.spec import StudentError


def notebook_json(*cells: str, markdown: str = "Some text") -> str:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown)] +
                                        [nbformat.v4.new_code_cell(c) for c in cells])
    return nbformat.writes(notebook)


def student_lines(program) -> list[str]:
    """The program's lines that came from the notebook (a guarded statement without its ``try: ``)."""
    lines = program.source.splitlines()
    return [line.removeprefix("try: ") for chunk in program.chunks
            for line in lines[chunk.first_line - 1:chunk.first_line - 1 + chunk.length]]


def run(program, tmp_path=None) -> dict:
    """Import the program as the sandbox worker would (here, in this process: it only uses the standard library)."""
    namespace = {"__name__": "submission_test"}
    exec(compile(program.source, "/submission/program.py", "exec"), namespace)
    return namespace


def test_keeps_definitions_imports_and_constants_only():
    program = extract([
        "import numpy as np\nfrom keras import layers\nSIZE = 28\nSHAPE: tuple = (SIZE, SIZE)\nNAMES = list(range(3))",
        "data = np.load('train.npz')\nmodel = build()\nmodel.fit(data)\nprint('training')",
        "@staticmethod\ndef build():\n    return SIZE\n\nclass Callback:\n    pass",
        "if __name__ == '__main__':\n    build()",
        "model.trainable = False\nx = compute()\nfor i in range(3):\n    pass",
    ], "a.ipynb")
    assert student_lines(program) == [
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
    assert without_magics("files = !ls\nmodel.summary?\n??np.load\nx = 1") == "\n\n\nx = 1"
    assert without_magics("if True:\n    !nvidia-smi") == "if True:\n    pass"  # its block still parses
    program = extract(["%load_ext autoreload\ndef f():\n    return 1"], "a.ipynb")
    assert program.source == "def f():\n    return 1\n"
    assert program.locate(1) == (1, 2)  # program line 1 is line 2 of code cell 1


@pytest.mark.parametrize("cell", [
    'def f(size):\n    print("batch %d"\n          % (size,))\n    return size',            # %-formatting on a new line
    "def f(size):\n    if (\n        size\n        != 3\n    ):\n        return size\n    return 0",  # black's style
])
def test_lines_of_plain_python_that_start_like_magics_are_kept(cell):
    """A kernel runs these: a line inside brackets that starts with % or ! is no IPython syntax."""
    assert without_magics(cell) == cell
    assert run(extract([cell], "a.ipynb"))["f"](5) == 5


def test_a_cell_magic_after_blank_lines_is_a_cell_magic_as_ipython_reads_it():
    assert without_magics("\n\n%%writefile helpers.py\ndef f():\n    return 1") == "\n\n\n\n"
    assert without_magics("\n%%time\ndef f():\n    return 1") == "\n\ndef f():\n    return 1"


@pytest.mark.parametrize("magic", ["%%time", "%%capture", "%%capture output --no-stderr"])
def test_time_and_capture_cells_keep_their_definitions(magic):
    assert without_magics(f"{magic}\nmodel.fit(x)\ny = 2") == "\nmodel.fit(x)\ny = 2"
    program = extract(["SIZE = 3", f"{magic}\nhistory = model.fit(x)\ndef f():\n    return SIZE"], "a.ipynb")
    assert student_lines(program) == ["SIZE = 3", "def f():", "    return SIZE"]
    assert program.locate(program.source.splitlines().index("def f():") + 1) == (2, 3)
    assert run(program)["f"]() == 3


@pytest.mark.parametrize("magic", ["%%bash", "%%writefile helpers.py", "%%timeit", "%%html", "%%script python"])
def test_other_cell_magics_define_nothing(magic):
    assert without_magics(f"{magic}\ndef f():\n    return 1") == "\n\n"
    program = extract([f"{magic}\ndef f():\n    return 1", "def g():\n    return 2"], "a.ipynb")
    assert "def f" not in program.source and "f" not in run(program) and run(program)["g"]() == 2


def test_line_map_points_into_the_right_cell():
    program = extract(["import os", "x = os.getcwd()", "def f():\n    a = 1\n    return a"], "a.ipynb")
    lines = program.source.splitlines()
    # a line the kit adds (the stand-ins), os (guarded: `try: `, then a kit line), then f (cell 3 lines 1-3)
    assert lines[1] == "try: import os" and program.locate(2) == (1, 1)
    assert program.locate(1) is None and program.locate(3) is None
    assert lines[3:6] == ["def f():", "    a = 1", "    return a"]
    assert program.locate(6) == (3, 3)
    assert program.locate(7) is None
    assert program.line_map() == [[2, 1, 1, 1], [4, 3, 3, 1]]


def test_a_statement_sharing_a_line_with_top_level_code_is_kept_alone():
    program = extract(["from os import path; path.join('a', 'b'); X = 1", "def f():\n    return X"], "a.ipynb")
    assert student_lines(program) == ["from os import path", "X = 1", "def f():", "    return X"]
    assert program.locate(2) == program.locate(4) == (1, 1)


def test_a_cell_that_does_not_parse_breaks_only_its_own_names():
    program = extract(["import os", "def good():\n    return 1", "def bad(:\n    return 2\n\nclass AlsoBad:\n    pass",
                       "def after():\n    return 3"], "hw.ipynb")
    assert set(program.broken_names) == {"bad", "AlsoBad"}
    message = program.broken_names["bad"]
    assert "code cell 3 of hw.ipynb, line 1" in message and "def bad(:" in message
    assert "def good" in program.source and "def after" in program.source and "bad" not in program.source


def test_a_function_using_a_name_from_a_cell_that_does_not_parse_says_so():
    program = extract(["def helper(:\n    pass", "def graded():\n    return helper()"], "hw.ipynb")
    assert set(program.broken_names) == {"helper", "graded"}
    message = program.broken_names["graded"]
    assert message.startswith("it uses `helper`, which could not be used: code cell 1 of hw.ipynb, line 1")


def test_a_later_cell_that_parses_repairs_a_broken_name():
    program = extract(["def f(:\n    pass", "def f():\n    return 1"], "a.ipynb")
    assert program.broken_names == {}
    program = extract(["def f():\n    return 1", "def f(:\n    pass"], "a.ipynb")
    assert set(program.broken_names) == {"f"}  # the last definition is the one the student meant


def test_the_last_definition_wins_when_a_function_is_redefined():
    program = extract(["def build():\n    return 'first try'", "model = build()",
                       "%%time\ndef build():\n    return 'second try'", "SIZE = 1", "SIZE = 2"], "a.ipynb")
    namespace = run(program)
    assert namespace["build"]() == "second try" and namespace["SIZE"] == 2
    assert program.broken_names.keys() == {"model"}  # what the exploratory call gave: nothing graded reads it


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


@pytest.mark.parametrize("cell", ["x = 1" + "+1" * 300_000, "x = " + "-" * 300_000 + "1"])
def test_a_cell_too_deep_for_pythons_parser_becomes_a_program_that_explains(tmp_path, cell):
    """ast.parse raises RecursionError or MemoryError on these (a red-team notebook crashed the grading process)."""
    path = tmp_path / "gap.ipynb"
    path.write_text(notebook_json("def pre_process_image(image, label):\n    return image, label", cell),
                    encoding="utf-8")
    program = extract_file(path)
    with pytest.raises(SyntaxError, match="nests JSON or code too deeply"):
        exec(compile(program.source, "gap.py", "exec"), {})


def test_extract_file_reads_a_real_notebook(tmp_path):
    path = tmp_path / "fashion_mnist.ipynb"
    path.write_text(notebook_json("import numpy as np", "def normalize(x, y):\n    return x / 255.0, y",
                                  "history = model.fit(x, y, epochs=5)"), encoding="utf-8")
    program = extract_file(path)
    assert "def normalize" in program.source and "fit" not in program.source


# --------------------------------------------------------------------------- globals a function reads
def test_items_set_in_a_container_a_function_reads_are_kept_as_a_kernel_sets_them():
    program = extract([
        "import keras\nimport numpy as np",
        'PREPROCESSORS = {}\nPREPROCESSORS["resnet50"] = keras.applications.resnet50.preprocess_input\n'
        'PREPROCESSORS["vgg16"] = keras.applications.vgg16.preprocess_input\nPREPROCESSORS["big"] = np.load("x.npy")',
        'UNREAD = {}\nUNREAD["a"] = 1',
        "def preprocess(batch, name):\n    return PREPROCESSORS[name](batch)",
    ], "a.ipynb")
    kept = student_lines(program)
    assert 'PREPROCESSORS["vgg16"] = keras.applications.vgg16.preprocess_input' in kept
    assert not any("np.load" in line for line in kept) and 'UNREAD["a"] = 1' not in kept  # work; unread
    # the item np.load would set is missing: the container is not computed, never silently without it
    assert "code cell 2, line 4: `PREPROCESSORS[\"big\"] = np.load" in program.broken_names["preprocess"]
    program = extract(["import keras", 'PREPROCESSORS = {}\nPREPROCESSORS["vgg16"] = keras.applications.vgg16.'
                       'preprocess_input', "def preprocess(batch, name):\n    return PREPROCESSORS[name](batch)"],
                      "a.ipynb")
    assert program.broken_names == {} and 'PREPROCESSORS["vgg16"]' in program.source


def test_a_global_that_a_function_reads_is_kept_with_what_it_needs():
    program = extract([
        "import keras\nfrom keras import layers",
        "loss_fn = keras.losses.SparseCategoricalCrossentropy()\nhidden = layers.Dense(8)",
        "history = model.fit(x, y)\nunused = keras.Sequential()",
        "def build():\n    model = keras.Sequential([hidden])\n    model.compile(loss=loss_fn)\n    return model",
    ], "a.ipynb")
    kept = student_lines(program)
    assert "loss_fn = keras.losses.SparseCategoricalCrossentropy()" in kept and "hidden = layers.Dense(8)" in kept
    assert "fit" not in program.source and "unused" not in program.source
    assert program.broken_names.keys() == {"history", "unused"}


def test_a_constant_built_from_other_constants_is_kept():
    program = extract(["SIZE = 28", "SHAPE = (SIZE, SIZE) + (1,)\nPIXELS = SIZE * SIZE\nNAMES = [str(i) for i in range(3)]",
                       "def f():\n    return SHAPE, PIXELS, NAMES"], "a.ipynb")
    assert run(program)["f"]() == ((28, 28, 1), 784, ["0", "1", "2"])
    assert program.broken_names == {}


def test_a_global_built_from_names_that_are_not_kept_is_left_out():
    program = extract(["import tensorflow_datasets as tfds",
                       "data = load_everything()\nshape = data.shape",  # load_everything is defined nowhere
                       "def f():\n    return shape"], "a.ipynb")
    assert not any("shape =" in line or "data =" in line for line in student_lines(program))
    assert "it reads `shape`" in program.broken_names["f"]
    program = extract(["names = info.features['label'].names\nN_CLASSES = len(names)\nLIMIT: int"], "a.ipynb")
    assert program.source == "LIMIT: int\n"  # built from data that is never loaded: left out, not a NameError
    program = extract(["import numpy as np", "def g():\n    return table", "table = np.arange(3)"], "a.ipynb")
    assert "table = np.arange(3)" in student_lines(program)  # defined after the function: still fine at call time


@pytest.mark.parametrize("statement", [
    "model = build_dense_classifier()",                     # the student's own function
    "base = load_vgg_base()",
    "(train, test), info = tfds.load('fashion_mnist', split=['train', 'test'], with_info=True, as_supervised=True)",
    "base = keras.applications.VGG16(include_top=False)",   # downloads ImageNet weights
    "train = keras.utils.image_dataset_from_directory('/kaggle/input/cats')",
    "train = np.load('/content/drive/MyDrive/train.npz')",
    "history = model.fit(train, epochs=5)",
    "figure = plt.plot(history.history['accuracy'])",
    "model = keras.Sequential([Normalizer()])",               # a library call around the student's class
])
def test_top_level_code_that_does_work_is_never_kept_even_when_a_function_reads_its_names(statement):
    program = extract(["import numpy as np\nimport keras\nimport tensorflow_datasets as tfds\nimport matplotlib.pyplot as plt",
                       "class Normalizer:\n    pass\n\ndef build_dense_classifier():\n    return 1\n\n"
                       "def load_vgg_base():\n    return 2",
                       statement,
                       "def graded():\n    return model, base, train, test, info, history, figure"], "nb.ipynb")
    assert statement not in student_lines(program)
    assert len(student_lines(program)) == 4 + 6 + 2  # the imports, the three definitions and graded
    assert "graded" in program.broken_names and "computes at top level (code cell 3, line 1" in program.broken_names["graded"]


def test_a_function_reading_a_value_computed_at_top_level_explains_and_others_are_unaffected():
    program = extract([
        "import os",
        "def load_vgg_base(image_size=160, weights='imagenet'):\n    return ['block1_conv1', image_size, weights]",
        "base = load_vgg_base()\nprint(len(base))",
        "def build_transfer_model(vgg):\n    return [base, 'gap', 'dense']",     # reads the global by mistake
        "def train(vgg):\n    return build_transfer_model(vgg)",              # ... through a helper
        "def freeze_vgg(base):\n    return base",                              # a parameter of the same name
        "def unfreeze_from(vgg, layer_name='block4_conv1'):\n    base = vgg\n    return base",  # a local one
        "def size(model=base):\n    return len(model)",                        # a default taken at top level
    ], "transfer.ipynb")
    assert set(program.broken_names) == {"base", "build_transfer_model", "train", "size"}
    message = program.broken_names["build_transfer_model"]
    assert message == ("it reads `base`, which your notebook computes at top level (code cell 3, line 1: "
                       "`base = load_vgg_base()`); the grader does not run top-level code, so pass `base` as an "
                       "argument or compute it inside the function.")
    assert message.render("bn") != str(message)
    assert program.broken_names["train"].startswith("it uses `build_transfer_model`, which reads `base`")
    namespace = run(program)
    assert namespace["freeze_vgg"]("vgg") == "vgg" and namespace["unfreeze_from"]("vgg") == "vgg"
    assert namespace["load_vgg_base"](32, None) == ["block1_conv1", 32, None]
    with pytest.raises(NameError, match=r"`base` has no value in the grader: your notebook computes it at top "
                                        r"level \(code cell 3, line 1: `base = load_vgg_base\(\)`\)"):
        namespace["build_transfer_model"]("vgg")[0].layers


def test_a_value_a_default_took_before_a_later_recomputation_is_fine():
    program = extract(["SIZE = 160", "def load(image_size=SIZE):\n    return image_size", "SIZE = compute_size()",
                       "def later():\n    return SIZE"], "a.ipynb")
    assert set(program.broken_names) == {"SIZE", "later"}
    assert run(program)["load"]() == 160


def test_an_import_inside_top_level_code_does_not_take_the_module_away():
    program = extract(["import os", "def cwd():\n    return os.getcwd()",
                       "if __name__ == '__main__':\n    import os\n    model = build()",
                       "try:\n    import autograder.kernel\nexcept ImportError:\n    print('no kit')"], "a.ipynb")
    assert "cwd" not in program.broken_names and run(program)["cwd"]()


def test_a_student_message_reaches_the_checks_of_the_function_alone(tmp_path, caplog):
    program = extract(["import os", "SIZE = len(os.listdir('/content/data'))",
                       "def graded():\n    return SIZE", "def other():\n    return 1"], "cnn.ipynb")
    path = tmp_path / "program.py"
    path.write_text(program.source, encoding="utf-8")
    origin = SubmissionOrigin("cnn.ipynb", program.line_map(),
                              {name: why.to_json() for name, why in program.broken_names.items()})
    try:
        student = import_submission(path, "notebook_code_test", origin)
        assert student.call("other") == 1
        with pytest.raises(StudentError) as raised:
            student.get("graded")
    finally:
        sys.modules.pop("submission_notebook_code_test", None)
    message = raised.value.args[0]
    assert isinstance(message, Text) and message == (
        "`graded` could not be graded: it reads `SIZE`, which your notebook computes at top level (code cell 2, "
        "line 1: `SIZE = len(os.listdir('/content/data'))`); the grader does not run top-level code, so pass "
        "`SIZE` as an argument or compute it inside the function.")
    with caplog.at_level(logging.WARNING, logger="autograder.core.i18n"):
        assert "SIZE" in message.render("bn")
    assert not caplog.records


# --------------------------------------------------------------------------- imports the grader lacks
def test_an_import_that_fails_costs_only_the_functions_that_use_it():
    program = extract([
        "!pip install -q wandb\nfrom google.colab import drive; drive.mount('/content/drive')",
        "from kaggle_secrets import UserSecretsClient\nuser_secrets = UserSecretsClient()\n"
        "import os, no_such_module_anywhere as wandb\nfrom os import path, no_such_name",
        "def mount():\n    drive.mount('/content/drive')\n    return 'mounted'",
        "def log(x):\n    wandb.log({'x': x})",
        "def fine():\n    return path.join('a', os.sep.join(['b', 'c']))",
        "class WandbLogger(wandb.keras.WandbCallback):\n    pass",
    ], "colab.ipynb")
    assert program.broken_names.keys() == {"user_secrets"}  # whether an import fails is known only in the grader
    namespace = run(program)
    assert namespace["fine"]() == "a/b/c"
    with pytest.raises(ImportError, match=r"`drive` comes from `google.colab`, which the grader cannot import "
                                          r"\(ModuleNotFoundError: No module named 'google.colab'\)"):
        namespace["mount"]()
    with pytest.raises(ImportError, match="`wandb` comes from `no_such_module_anywhere`"):
        namespace["log"](1)
    with pytest.raises(ImportError, match="`no_such_name` comes from `os`"):
        namespace["no_such_name"]()
    with pytest.raises(ImportError, match="`wandb` comes from"):
        namespace["WandbLogger"]()
    assert "comes from `kaggle_secrets`" in repr(namespace["UserSecretsClient"])


def test_an_error_a_stand_in_raises_points_at_the_students_line():
    program = extract(["from google.colab import drive", "def mount():\n    x = 1\n    drive.mount('/content/drive')"],
                      "colab.ipynb")
    with pytest.raises(ImportError) as raised:
        run(program)["mount"]()
    import traceback
    frames = [f for f in traceback.extract_tb(raised.value.__traceback__) if f.filename == "/submission/program.py"]
    assert program.locate(frames[-1].lineno) == (2, 3)


def test_a_library_value_that_fails_in_the_grader_becomes_a_stand_in_that_explains():
    program = extract(["import os", "HOME = os.path.expanduser(7)",  # raises TypeError in the grader
                       "def home():\n    return HOME.upper()"], "a.ipynb")
    assert program.broken_names == {}
    with pytest.raises(NameError, match=r"`HOME` has no value in the grader: computing it at top level \(code cell 2, "
                                        r"line 1: `HOME = os.path.expanduser\(7\)`\) failed there with TypeError"):
        run(program)["home"]()


@pytest.mark.parametrize("value", [
    "layers.GlobalAveragePooling2D()", "keras.Sequential([layers.RandomFlip('horizontal'), layers.RandomRotation(0.1)])",
    "keras.optimizers.Adam(learning_rate=1e-3)", "keras.losses.BinaryCrossentropy(from_logits=True)",
    "keras.initializers.TruncatedNormal(stddev=0.02)", "keras.constraints.MaxNorm(3)", "keras.regularizers.l2(1e-4)",
    "keras.callbacks.EarlyStopping(patience=2)", "np.random.default_rng(0)", "tf.keras.layers.Rescaling(1 / 255)",
    "keras.applications.vgg16.preprocess_input",  # a reference, not a call
])
def test_library_values_a_function_reads_are_kept(value):
    program = extract(["import numpy as np\nimport tensorflow as tf\nimport keras\nfrom keras import layers",
                       f"VALUE = {value}", "def graded():\n    return VALUE"], "a.ipynb")
    assert f"VALUE = {value}" in student_lines(program) and program.broken_names == {}


@pytest.mark.parametrize("cell", ["def g(size=LATER):\n    return size", "@later\ndef g():\n    return 1"])
def test_a_function_reading_a_later_cells_name_as_it_is_defined_costs_only_itself(cell):
    """A kernel stops at the NameError; the program used to stop its whole import there (every function lost)."""
    program = extract(["def f():\n    return 1", cell, "LATER = 3\ndef later(fn):\n    return fn"], "a.ipynb")
    namespace = run(program)
    assert namespace["f"]() == 1 and "g" not in namespace
    assert "before any cell above gives it a value" in program.broken_names["g"].render()


def test_future_imports_stay_first():
    program = extract(["import os", "from __future__ import annotations\ndef f() -> Undefined:\n    return 1"], "a.ipynb")
    assert program.source.startswith("from __future__ import annotations\n")
    assert program.locate(1) == (2, 1) and run(program)["f"]() == 1


# --------------------------------------------------------------------------- r35: notebooks a kernel grades otherwise
def test_a_chain_of_top_level_values_is_kept_transitively():
    program = extract(["import fractions",
                       "LOSS = fractions.Fraction(1, 3)\nCOMPILE_KW = dict(loss=LOSS, metrics=['accuracy'])",
                       "def compile_kwargs():\n    return COMPILE_KW"], "a.ipynb")
    assert program.broken_names == {}
    assert run(program)["compile_kwargs"]() == {"loss": run(program)["fractions"].Fraction(1, 3),
                                                "metrics": ["accuracy"]}


def test_a_global_the_function_declares_and_assigns_itself_is_not_a_read_of_the_top_level_value():
    program = extract(["import collections",
                       "def build():\n    global model\n    model = collections.OrderedDict(a=1)\n    return model",
                       "model = build()\nprint(model)", "def reads():\n    return model"], "a.ipynb")
    assert set(program.broken_names) == {"model", "reads"}
    assert run(program)["build"]() == {"a": 1}


def test_a_class_body_is_read_as_the_top_level_is():
    program = extract(["import os",
                       "class CFG:\n    '''Settings.'''\n    SIZE = 160\n    DATA_DIR = '/no/such/dir'\n"
                       "    CLASSES = sorted(os.listdir(DATA_DIR))\n\n    def size(self):\n        return self.SIZE",
                       "IMAGE_SIZE = CFG.SIZE", "def f():\n    return IMAGE_SIZE", "def g():\n    return CFG.CLASSES"],
                      "transfer.ipynb")
    namespace = run(program)  # the class body's listdir is not run: the import does not fail
    assert namespace["f"]() == 160 and namespace["CFG"]().size() == 160 and namespace["CFG"].__doc__ == "Settings."
    assert set(program.broken_names) == {"g"}
    assert "`CFG.CLASSES`" in program.broken_names["g"] and "code cell 2, line 5" in program.broken_names["g"]
    with pytest.raises(NameError, match=r"`CLASSES` has no value in the grader: .*code cell 2, line 5"):
        len(namespace["CFG"].CLASSES)


def test_a_class_attribute_computed_from_a_value_that_is_not_computed_costs_only_that_attribute():
    program = extract(["data = load()\nclass_names = data.names",
                       "class Callback:\n    N = len(class_names)\n\n    def __init__(self, threshold=0.9):\n"
                       "        self.threshold = threshold"], "fashion_mnist.ipynb")
    assert "Callback" not in program.broken_names
    assert run(program)["Callback"]().threshold == 0.9


def test_a_class_body_that_fails_in_the_grader_never_stops_the_import():
    program = extract(["import os", "class C:\n    HOME = os.path.expanduser(7)\n    X = 1",
                       "def f():\n    return 2"], "a.ipynb")
    namespace = run(program)
    assert namespace["f"]() == 2 and namespace["C"].X == 1
    with pytest.raises(NameError, match="computing it at top level .* failed there with TypeError"):
        namespace["C"].HOME.upper()


@pytest.mark.parametrize("future", ["", "from __future__ import annotations\n"])
def test_an_annotation_read_before_its_import_costs_only_its_function(future):
    program = extract([future + "def add_gap(head: Sequential) -> Sequential:\n    return head",
                       "from collections import OrderedDict as Sequential\ndef other():\n    return 1"], "gap.ipynb")
    namespace = run(program)
    assert namespace["other"]() == 1
    if future:
        assert program.broken_names == {} and namespace["add_gap"](3) == 3
    else:
        assert "before any cell above gives it a value" in program.broken_names["add_gap"]


def test_a_shell_line_continued_with_backslashes_is_blanked_whole():
    cell = "!pip install -q \\\n    tensorflow-datasets \\\n    matplotlib\nimport os"
    assert without_magics(cell) == "\n\n\nimport os"
    assert run(extract([cell, "def f():\n    return os.sep"], "cnn.ipynb"))["f"]() == "/"


def test_the_imports_of_a_cell_that_does_not_parse_are_broken_too():
    program = extract(["import os",
                       "import os\nimport json as js\nfrom os import (path,\n    sep as S)\ndef bad(:\n    pass",
                       "def g():\n    return js.dumps(1)", "def h():\n    return os.sep"], "cnn.ipynb")
    assert set(program.broken_names) == {"js", "path", "S", "bad", "g"}
    assert "does not parse" in program.broken_names["g"] and run(program)["h"]() == "/"


def test_the_body_of_a_time_cell_that_parses_is_kept_as_it_is():
    body = "def f(size):\n    print('x %d'\n          % (size,))\n    return size\n\n\ny = f(3)"
    assert without_magics("%%time\n" + body) == "\n" + body
    assert run(extract(["%%time\n" + body], "a.ipynb"))["f"](5) == 5


def test_a_container_filled_by_a_loop_of_kept_kinds_is_kept():
    program = extract(["import fractions",
                       "TABLE = {}\nfor _name in ['a', 'b']:\n    TABLE[_name] = getattr(fractions, 'Fraction')",
                       "def f(name):\n    return TABLE[name]"], "pretrained.ipynb")
    assert program.broken_names == {}
    assert sorted(run(program)["TABLE"]) == ["a", "b"]


def test_a_container_a_kept_kind_updates_is_kept_updated():
    program = extract(["CONFIG = dict(image_size=64)",
                       "CONFIG.update(image_size=100)\nIMAGE_SIZE = CONFIG['image_size']\n"
                       "print(CONFIG.get('x'), CONFIG.copy().pop('image_size'))",  # reads, and a copy's method
                       "def f(size=IMAGE_SIZE):\n    return size, CONFIG['image_size']"], "gap.ipynb")
    assert program.broken_names == {} and run(program)["f"]() == (100, 100)


@pytest.mark.parametrize("mutation", [
    "CONFIG.update(image_size=compute())", "CONFIG['image_size'] = compute()", "del CONFIG['image_size']",
    "CONFIG['image_size'] += compute()", "for key in compute():\n    CONFIG[key] = 1", "CONFIG.clear()",
])
def test_a_value_that_top_level_work_mutates_is_not_computed_never_stale(mutation):
    program = extract(["CONFIG = dict(image_size=64)", f"{mutation}\nIMAGE_SIZE = CONFIG['image_size']",
                       "def f():\n    return CONFIG", "def g(size=IMAGE_SIZE):\n    return size"], "gap.ipynb")
    assert {"CONFIG", "IMAGE_SIZE", "f", "g"} <= set(program.broken_names)
    assert "code cell 2, line" in program.broken_names["f"]  # where it is changed
    with pytest.raises(NameError, match="`CONFIG` has no value in the grader"):
        run(program)["f"]()["image_size"]


def test_a_try_whose_finally_does_work_is_not_run():
    program = extract(["import os", "try:\n    import json\nexcept ImportError:\n    json = None\nfinally:\n"
                       "    FILES = os.listdir('/no/such/dir')", "def f():\n    return 1"], "transfer.ipynb")
    assert "listdir" not in program.source and run(program)["f"]() == 1


def test_a_default_a_star_import_may_give_is_not_called_unbound():
    program = extract(["from fractions import *", "def f(x, cls=Fraction):\n    return cls(x)"], "transfer.ipynb")
    assert program.broken_names == {} and run(program)["f"](1) == 1


def test_harmless_builtins_and_string_methods_make_constants():
    program = extract(["PARAMS = [1, 2]\nTOTAL = sum(PARAMS)\nOK = all(p > 0 for p in reversed(PARAMS))\n"
                       "NAMES = 'a b'.split()\nSEP = ','\nJOINED = SEP.join(NAMES)",
                       "def f():\n    return TOTAL, OK, NAMES, JOINED"], "cnn.ipynb")
    assert program.broken_names == {} and run(program)["f"]() == (3, True, ["a", "b"], "a,b")


def test_an_attribute_set_on_a_kept_class_is_kept_as_a_kernel_sets_it():
    program = extract(["class Callback:\n    def on_epoch_end(self):\n        return 'old'",
                       "def _on_epoch_end(self):\n    return 'new'\n\n\nCallback.on_epoch_end = _on_epoch_end",
                       "def f():\n    return Callback().on_epoch_end()"], "fashion_mnist.ipynb")
    assert program.broken_names == {} and run(program)["f"]() == "new"
    program = extract(["class Callback:\n    def on_epoch_end(self):\n        return 'old'",
                       "Callback.on_epoch_end = make_patch()", "def f():\n    return Callback().on_epoch_end()"],
                      "fashion_mnist.ipynb")
    assert {"Callback", "f"} <= set(program.broken_names)


@pytest.mark.parametrize("first_line, keeps", [
    ("%%time  # how long", False), ("%%capture  # hide the output", False), ("%%capture out --no-stderr", True),
    ("%%capture --no-stdout --no-display", True), ("%%capture a b", False), ("%%capture --verbose", False),
    ("%%time --no-raise-error", True), ("%%time   ", True),
])
def test_a_time_or_capture_line_ipython_rejects_defines_nothing(first_line, keeps):
    cell = f"{first_line}\ndef f():\n    return 1"
    program = extract([cell, "def g():\n    return 2"], "cnn.ipynb")
    assert ("def f" in program.source) == keeps
    if not keeps:
        assert "f" in program.broken_names and "code cell 1" in program.broken_names["f"]
        assert run(program)["g"]() == 2


def test_a_long_chain_of_values_is_extracted_quickly(tmp_path):
    """A red-team notebook chained 150,000 values; selecting them took one pass over all statements per value."""
    import time
    lines = ["import numpy as np", "a0 = np.vectorize(lambda: 0)"]
    lines += [f"a{j} = np.vectorize(lambda: a{j - 1})" for j in range(1, 20_000)]
    lines += ["def f():\n    return a19999"]
    path = tmp_path / "big.ipynb"
    path.write_text(notebook_json("\n".join(lines)), encoding="utf-8")
    started = time.process_time()  # this process's CPU: other tests' load on the cores does not count
    program = extract_file(path)
    assert time.process_time() - started < 10  # linear: 1-6 s here; one pass per value took minutes
    assert "a19999 = np.vectorize(lambda: a19998)" in program.source


@pytest.mark.parametrize("cells", [["x = 1\n" * 400_000], ["x = 1\n" * 30_000, "y = 2\n" * 30_000]])
def test_a_notebook_too_large_to_grade_becomes_a_program_that_explains(tmp_path, cells):
    path = tmp_path / "cnn.ipynb"
    path.write_text(notebook_json(*cells), encoding="utf-8")
    program = extract_file(path)
    with pytest.raises(SyntaxError, match="too large"):
        exec(compile(program.source, "cnn.py", "exec"), {})


def test_class_body_statements_sharing_lines_are_read_one_by_one():
    program = extract(["import os", "class C:\n    X = 1; FILES = os.listdir('/no/such/dir'); Y = 2\n"
                       "    Z = (os.listdir('/no/such')\n         ); W = 3"], "a.ipynb")
    namespace = run(program)
    assert (namespace["C"].X, namespace["C"].Y, namespace["C"].W) == (1, 2, 3)
    with pytest.raises(NameError, match="`FILES` has no value"):
        len(namespace["C"].FILES)

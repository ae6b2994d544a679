"""Notebooks as students save them from Jupyter, Colab and Kaggle, graded through the real command line.

Each notebook is made from a reference solution's own text (split into cells at every top-level
``def`` and ``class``) with the exploration students do between the definitions: loading the data
set, building the model with its default arguments (which would download ImageNet weights),
training, plotting, ``%%time`` / ``%%capture`` cells, shell and magic lines, and imports that only
Colab or Kaggle have. A kernel would define the same functions as the ``.py`` file, so each notebook
must get the ``.py`` twin's score: full marks (``tests/test_cli.py`` grades the twins). One
notebook's graded function really reads a value only top-level code computes: it alone loses its
checks, with a message that says so.
"""
import json

import nbformat
import pytest

from autograder import graders
from conftest import block, run_cli, solution_blocks

FULL_MARKS = ("fashion_mnist", "cnn", "transfer")
# The tests share one grading run: keep them in one test process under pytest-xdist.
SHARES_GRADING = pytest.mark.xdist_group("notebook_submissions")


def magic(first_line: str, source: str) -> str:
    return f"{first_line}\n{source}"


# --------------------------------------------------------------------------- the three styles
def jupyter_notebook(cells: list[str]) -> nbformat.NotebookNode:
    """Jupyter: a kernelspec, execution counts and outputs (text, a result, a plot)."""
    notebook = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python", "version": "3.11.7", "mimetype": "text/x-python",
                          "file_extension": ".py", "pygments_lexer": "ipython3", "nbconvert_exporter": "python"}})
    notebook.cells.append(nbformat.v4.new_markdown_cell("# হোমওয়ার্ক / Homework"))
    for count, source in enumerate(cells, start=1):
        cell = nbformat.v4.new_code_cell(source, execution_count=count)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"cell {count} ran\n")]
        if "plt." in source:
            cell.outputs.append(nbformat.v4.new_output("display_data", data={
                "image/png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
                "text/plain": "<Figure size 640x480 with 1 Axes>"}))
        elif "summary()" in source or "evaluate(" in source:
            cell.outputs.append(nbformat.v4.new_output("execute_result", data={"text/plain": "[0.35, 0.87]"},
                                                       execution_count=count))
        notebook.cells.append(cell)
    return notebook


def colab_notebook(cells: list[str]) -> nbformat.NotebookNode:
    """Colab: colab and accelerator metadata, cell ids with Colab's own cell metadata, few outputs."""
    notebook = nbformat.v4.new_notebook(metadata={
        "colab": {"provenance": [], "gpuType": "T4", "toc_visible": True},
        "kernelspec": {"name": "python3", "display_name": "Python 3"},
        "language_info": {"name": "python"}, "accelerator": "GPU"})
    for number, source in enumerate(cells):
        cell = nbformat.v4.new_code_cell(source, metadata={"id": f"c0lab{number:03d}",
                                                            "colab": {"base_uri": "https://localhost:8080/"},
                                                            "outputId": f"0ut{number:03d}"})
        if "drive.mount" in source:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="Mounted at /content/drive\n")]
        notebook.cells.append(cell)
    return notebook


def kaggle_notebook(cells: list[str]) -> nbformat.NotebookNode:
    """Kaggle: kaggle metadata (GPU, data sources, internet), trusted cells with execution times."""
    notebook = nbformat.v4.new_notebook(metadata={
        "kaggle": {"accelerator": "gpu", "isGpuEnabled": True, "isInternetEnabled": True, "language": "python",
                   "sourceType": "notebook", "dockerImageVersionId": 30698,
                   "dataSources": [{"sourceId": 1234, "sourceType": "datasetVersion", "datasetId": 55}]},
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python", "version": "3.10.13"}})
    for count, source in enumerate(cells, start=1):
        cell = nbformat.v4.new_code_cell(source, execution_count=count, metadata={
            "trusted": True, "execution": {"iopub.status.busy": "2024-05-01T10:00:00.000000Z",
                                           "shell.execute_reply": "2024-05-01T10:00:01.000000Z"}})
        notebook.cells.append(cell)
    return notebook


# --------------------------------------------------------------------------- the notebooks
def fashion_mnist_jupyter() -> nbformat.NotebookNode:
    blocks = solution_blocks("fashion_mnist")
    return jupyter_notebook([
        "%matplotlib inline\n%load_ext autoreload\n%autoreload 2",
        blocks[0] + "\nimport tensorflow_datasets as tfds\nimport matplotlib.pyplot as plt",
        "(train, test), info = tfds.load('fashion_mnist', split=['train', 'test'], with_info=True, as_supervised=True)\n"
        "class_names = info.features['label'].names\nprint(info)",
        "plt.figure(figsize=(10, 10))\nfor i, (image, label) in enumerate(train.take(9)):\n"
        "    plt.subplot(3, 3, i + 1)\n    plt.imshow(image[..., 0], cmap='gray')\n    plt.title(class_names[label])",
        block(blocks, "normalize"),
        "train_batches = train.map(normalize).shuffle(10_000).batch(32)\ntest_batches = test.map(normalize).batch(32)",
        magic("%%time", block(blocks, "build_dense_classifier")),
        "model = build_dense_classifier()\nmodel.summary()",
        block(blocks, "AccuracyCallback"),
        "history = model.fit(train_batches, epochs=10, validation_data=test_batches,\n"
        "                    callbacks=[AccuracyCallback(0.9)])",
        "plt.plot(history.history['accuracy'], label='train')\nplt.plot(history.history['val_accuracy'], label='test')\n"
        "plt.legend()",
        "model.evaluate(test_batches)",
    ])


def cnn_colab() -> nbformat.NotebookNode:
    blocks = solution_blocks("cnn")
    return colab_notebook([
        "!pip install -q tensorflow-datasets",
        "from google.colab import drive; drive.mount('/content/drive')",
        "%cd /content/drive/MyDrive/tf2-course\n!ls",
        blocks[0] + "\nimport tensorflow_datasets as tfds",
        magic("%%capture", block(blocks, "normalize")),
        "(train_dataset, test_dataset), info = tfds.load('fashion_mnist', split=['train', 'test'],\n"
        "                                                with_info=True, as_supervised=True)",
        block(blocks, "make_batches"),
        "train_batches, test_batches = make_batches(train_dataset, test_dataset)\n"
        "images, labels = next(iter(train_batches))\nprint(images.shape, labels.shape)",
        "%%bash\nnvidia-smi\npip list | grep tensorflow",
        block(blocks, "build_cnn"),
        "model = build_cnn(); model.summary()",
        "%load_ext tensorboard\n%tensorboard --logdir logs",
        "history = model.fit(train_batches, epochs=5, validation_data=test_batches,\n"
        "                    callbacks=[keras.callbacks.TensorBoard('logs')])",
        "model.save('/content/drive/MyDrive/cnn.keras')",
    ])


def transfer_kaggle() -> nbformat.NotebookNode:
    blocks = solution_blocks("transfer")
    return kaggle_notebook([
        "# This Python 3 environment comes with many helpful analytics libraries installed\n"
        "import numpy as np # linear algebra\nimport pandas as pd # data processing, CSV file I/O (e.g. pd.read_csv)\n\n"
        "import os\nfor dirname, _, filenames in os.walk('/kaggle/input'):\n    for filename in filenames:\n"
        "        print(os.path.join(dirname, filename))",
        "from kaggle_secrets import UserSecretsClient\nuser_secrets = UserSecretsClient()\n"
        "wandb_key = user_secrets.get_secret('wandb_api_key')\nimport wandb\nwandb.login(key=wandb_key)",
        blocks[0] + "\nDATA_DIR = '/kaggle/input/cats-and-dogs/PetImages'",
        "train_ds = keras.utils.image_dataset_from_directory(DATA_DIR, validation_split=0.2, subset='training',\n"
        "                                                   seed=1, image_size=(IMAGE_SIZE, IMAGE_SIZE))\n"
        "val_ds = keras.utils.image_dataset_from_directory(DATA_DIR, validation_split=0.2, subset='validation',\n"
        "                                                 seed=1, image_size=(IMAGE_SIZE, IMAGE_SIZE))",
        block(blocks, "load_vgg_base"),
        "base = load_vgg_base()\nbase.summary()",
        magic("%%time", block(blocks, "freeze_vgg")),
        "base = freeze_vgg(base)\nprint(len(base.trainable_weights))",
        block(blocks, "build_transfer_model"),
        "model = build_transfer_model(base)\nhistory = model.fit(train_ds, validation_data=val_ds, epochs=3)",
        block(blocks, "unfreeze_from"),
        block(blocks, "compile_for_fine_tuning"),
        "base = unfreeze_from(base)\nmodel = compile_for_fine_tuning(model)\n"
        "fine = model.fit(train_ds, validation_data=val_ds, epochs=6, initial_epoch=history.epoch[-1])",
        "import matplotlib.pyplot as plt\nplt.plot(history.history['accuracy'] + fine.history['accuracy'])",
    ])


def gap_reading_a_top_level_value() -> nbformat.NotebookNode:
    """``add_gap`` uses the notebook's ``head`` instead of its parameter: right in the kernel, not gradable."""
    blocks = solution_blocks("gap", demo=False)
    add_gap = block(blocks, "add_gap").replace("def add_gap(head):", "def add_gap(head_model):")
    assert "def add_gap(head_model):" in add_gap
    return jupyter_notebook([
        blocks[0],
        block(blocks, "pre_process_image"),
        block(blocks, "build_head"),
        "head = build_head(IMAGE_SIZE)\nhead.summary()",
        block(blocks, "build_standard_classifier"),
        add_gap,
        "model = add_gap(head)\nmodel.summary()",
    ])


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """All four notebooks in one folder, graded by one run of the command line."""
    folder = tmp_path_factory.mktemp("notebooks")
    notebooks = {"fashion_mnist": fashion_mnist_jupyter(), "cnn": cnn_colab(), "transfer": transfer_kaggle(),
                 "gap": gap_reading_a_top_level_value()}
    for assignment_id, notebook in notebooks.items():
        nbformat.validate(notebook)
        nbformat.write(notebook, folder / f"{assignment_id}.ipynb")
    out = folder / "results.json"
    completed = run_cli("grade", str(folder), "--json", str(out), "--reveal-hidden")
    assert completed.returncode == 0, completed.stderr[-3000:]
    tests = json.loads(out.read_text(encoding="utf-8"))["tests"]
    return completed, {aid: [t for t in tests if t["tags"][0] == aid] for aid in notebooks}


@pytest.mark.slow
@SHARES_GRADING
@pytest.mark.parametrize("assignment_id", FULL_MARKS)
def test_a_notebook_full_of_exploration_gets_the_py_twins_full_marks(graded, assignment_id):
    completed, by_assignment = graded
    tests = by_assignment[assignment_id]
    maximum = graders.load(assignment_id).max_score
    assert [t["extra_data"]["check_id"] for t in tests if t["status"] != "passed"] == [], \
        [t["output"] for t in tests if t["status"] != "passed"]
    assert sum(t["score"] for t in tests) == sum(t["max_score"] for t in tests) == maximum
    assert f"{assignment_id}: {maximum:g}/{maximum:g}  ({assignment_id}.ipynb" in completed.stdout


@pytest.mark.slow
@SHARES_GRADING
def test_a_function_that_reads_a_value_computed_at_top_level_loses_only_its_own_checks(graded):
    _, by_assignment = graded
    assignment = graders.load("gap")
    uses_add_gap = {check.id for check in assignment.checks if "add_gap" in assignment.probes[check.probe].uses}
    tests = by_assignment["gap"]
    lost = {t["extra_data"]["check_id"]: t for t in tests if t["status"] != "passed"}
    assert uses_add_gap and set(lost) == uses_add_gap
    for test in lost.values():
        assert test["score"] == 0
        assert ("`add_gap` could not be graded: it reads `head`, which your notebook computes at top level "
                "(code cell 4, line 1: `head = build_head(IMAGE_SIZE)`); the grader does not run top-level code, "
                "so pass `head` as an argument or compute it inside the function.") in test["output"]
    kept = [t for t in tests if t["extra_data"]["check_id"] not in uses_add_gap]
    assert kept and sum(t["score"] for t in kept) == sum(t["max_score"] for t in kept)

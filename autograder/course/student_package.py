"""The student package: the part of the kit that students install, without any grader.

``python -m autograder student-package --out DIR`` writes
``DIR/tf2_exercise_kit_student-<version>-py3-none-any.whl``. It provides the ``autograder``
import package, but only the files listed in :data:`STUDENT_FILES`: what a notebook needs on
the student's side (the helpers its cells call, the public self-checks, the demos' data). The
hidden checks, the runner, the sandbox, reports and class grading stay in the instructor's
install (``tf2-exercise-kit`` itself). Instructors publish the wheel and point the course's
``[course] kit_requirement`` at it, so the notebooks' first cell installs it and nothing else.

The build checks that the listed modules never need what they leave out: every import of a
kit module they make, at import time or inside a function, must stay in the list, unless it
sits in the body of a ``try: ... except ImportError`` (or ``ModuleNotFoundError``) and the
importing module names it in its own module-level ``INSTRUCTOR_IMPORTS``: the code that runs
only where the instructor's kit is installed.

The wheel is written here with :mod:`zipfile` (no network, no build backend) and depends only
on its content: sorted entries, fixed timestamps and permissions.
"""
from __future__ import annotations

import ast
import base64
import hashlib
import re
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

DISTRIBUTION = "tf2-exercise-kit-student"
PACKAGE = "autograder"
# The files students get (relative to the kit's project folder). Notebooks import autograder.kernel
# (self_check, grade_here) and autograder.student.datasets (the demos' synthetic data); kernel runs the public
# self-checks through autograder.student.public_tests. The build proves nothing else is imported.
STUDENT_FILES = (
    "autograder/__init__.py",
    "autograder/kernel.py",
    "autograder/student/__init__.py",
    "autograder/student/public_tests.py",
    "autograder/student/selfcheck_support.py",
    "autograder/student/datasets.py",
    "autograder/student/selfcheck/*.py",
)
# The kit's dependencies (pyproject.toml) that those modules use: the self-checks run on
# TensorFlow/Keras, NumPy and pytest (and Pillow, through keras.utils.load_img); datasets loads
# the real data sets with tensorflow-datasets, which needs importlib_resources on some installs.
STUDENT_REQUIREMENTS = ("tensorflow", "tensorflow-datasets", "numpy", "pillow", "pytest", "importlib-resources")
GUARD_MARK = "INSTRUCTOR_IMPORTS"
_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the wheel depends only on its content
_FILE_MODE = 0o100644
_TAG = "py3-none-any"


@dataclass(frozen=True)
class KitImport:
    """One import of a kit module: what it names, where, and whether it sits in a ``try`` that catches ImportError."""

    module: str
    line: int
    guarded: bool


def wheel_name(version: str) -> str:
    return f"{_escaped(DISTRIBUTION)}-{version}-{_TAG}.whl"


def _escaped(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ----------------------------------------------------------------------- which files
def student_files(root: Path) -> list[str]:
    """The allow-listed files under ``root`` (the kit's project folder), as sorted POSIX paths."""
    root = Path(root)
    found: set[str] = set()
    for pattern in STUDENT_FILES:
        matches = [path for path in root.glob(pattern) if path.is_file()]
        if not matches:
            raise FileNotFoundError(f"--root must be the kit's project folder; nothing there matches {pattern}. "
                                    f"Received: {str(root)!r}")
        found.update(path.relative_to(root).as_posix() for path in matches)
    return sorted(found)


def _module_of(relative: str) -> tuple[str, bool]:
    """The dotted module name of a file, and whether it is a package's ``__init__``."""
    parts = relative.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def module_files(root: Path, module: str) -> list[str] | None:
    """The kit files that importing ``module`` runs, parent packages first; ``None`` when the kit lacks it."""
    parts, files = module.split("."), []
    for depth in range(1, len(parts) + 1):
        base = Path(root).joinpath(*parts[:depth])
        if (base / "__init__.py").is_file():
            files.append("/".join(parts[:depth]) + "/__init__.py")
        elif depth == len(parts) and base.with_suffix(".py").is_file():
            files.append("/".join(parts) + ".py")
        elif not base.is_dir():  # a folder without __init__.py is a namespace package: nothing runs
            return None
    return files


# ----------------------------------------------------------------------- which imports
def _catches_import_error(handlers: list[ast.ExceptHandler]) -> bool:
    for handler in handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(kind, ast.Name) and kind.id in _IMPORT_ERRORS for kind in kinds):
            return True
    return False


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    if node.level - 1 > len(package) - 1:
        raise ValueError(f"a relative import goes above the kit's package. Received: {module} line {node.lineno}")
    base = package[:len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def kit_imports(text: str, relative: str, root: Path) -> list[KitImport]:
    """Every import of a kit module in the file ``relative`` (source ``text``): import statements anywhere
    (functions included), and ``importlib.import_module``/``__import__`` calls with a literal name."""
    module, is_package = _module_of(relative)
    found: list[KitImport] = []

    def named(name: str, node: ast.AST, guarded: bool) -> None:
        if name == PACKAGE or name.startswith(PACKAGE + "."):
            found.append(KitImport(name, node.lineno, guarded))

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            for child in node.body:
                visit(child, guarded or _catches_import_error(node.handlers))
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, guarded)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                named(alias.name, node, guarded)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, module, is_package)
            named(base, node, guarded)
            for alias in node.names:  # `from autograder import graders` imports a module, not a name
                if alias.name != "*" and module_files(root, f"{base}.{alias.name}") is not None:
                    named(f"{base}.{alias.name}", node, guarded)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if function in ("import_module", "__import__"):
                named(node.args[0].value, node, guarded)
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(ast.parse(text, filename=relative), False)
    return found


def _declared_guards(tree: ast.Module) -> tuple[str, ...]:
    """The module's own ``INSTRUCTOR_IMPORTS = (...)``: the instructor's modules it may import when present."""
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        else:
            targets = [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == GUARD_MARK for t in targets) and node.value is not None:
            value = ast.literal_eval(node.value)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{GUARD_MARK} must be a tuple of module names. Received: {value!r}")
            return tuple(value)
    return ()


def check_imports(root: Path, files: list[str]) -> None:
    """Raise ValueError unless every kit module that ``files`` import is among ``files`` or is an
    instructor module imported only inside ``try: ... except ImportError`` and declared in the importing
    module's ``INSTRUCTOR_IMPORTS``."""
    root, included, problems = Path(root), set(files), []
    for relative in (f for f in files if f.endswith(".py")):
        text = (root / relative).read_text(encoding="utf-8")
        try:
            guards = _declared_guards(ast.parse(text, filename=relative))
            imports = kit_imports(text, relative, root)
        except SyntaxError as error:
            raise ValueError(f"a student module does not parse. Received: {relative}: {error}") from None
        for found in imports:
            needed = module_files(root, found.module)
            if needed is not None and included.issuperset(needed):
                continue
            declared = any(found.module == g or found.module.startswith(g + ".") for g in guards)
            if found.guarded and declared:
                continue
            why = ("not declared in its " + GUARD_MARK) if found.guarded else \
                  "outside a `try: ... except ImportError`"
            problems.append(f"{relative}:{found.line} imports {found.module}, which the student package leaves "
                            f"out, {why}")
    if problems:
        raise ValueError("the student package's modules need modules it does not hold. Received: "
                         + "; ".join(problems))


# ----------------------------------------------------------------------- the wheel
def _project(root: Path) -> dict:
    path = Path(root) / "pyproject.toml"
    if not path.is_file():
        raise FileNotFoundError(f"--root must be the kit's project folder, holding pyproject.toml. "
                                f"Received: {str(root)!r}")
    return tomllib.loads(path.read_text(encoding="utf-8"))["project"]


def requirements(project: dict) -> list[str]:
    """The kit's dependency specifiers for :data:`STUDENT_REQUIREMENTS`, in pyproject.toml's order."""
    by_name = {_normalized(re.match(r"[A-Za-z0-9._-]+", spec).group(0)): spec for spec in project["dependencies"]}
    missing = [name for name in STUDENT_REQUIREMENTS if _normalized(name) not in by_name]
    if missing:
        raise ValueError(f"pyproject.toml's dependencies lack what the student package needs. Received: {missing}")
    wanted = {_normalized(name) for name in STUDENT_REQUIREMENTS}
    return [spec for name, spec in by_name.items() if name in wanted]


def metadata(project: dict) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {DISTRIBUTION}", f"Version: {project['version']}",
             "Summary: The students' part of tf2-exercise-kit: notebook helpers, public self-checks and the "
             "demos' data (the graders stay with the instructor)."]
    if "requires-python" in project:
        lines.append(f"Requires-Python: {project['requires-python']}")
    if isinstance(project.get("license"), dict) and "text" in project["license"]:
        lines.append(f"License: {project['license']['text']}")
    lines += [f"Requires-Dist: {spec}" for spec in requirements(project)]
    return "\n".join(lines) + "\n"


WHEEL = f"Wheel-Version: 1.0\nGenerator: {PACKAGE}.course.student_package\nRoot-Is-Purelib: true\nTag: {_TAG}\n"


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.external_attr = _FILE_MODE << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data, compresslevel=9)


def _package_version(root: Path) -> str | None:
    tree = ast.parse((Path(root) / PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__version__"]:
            return ast.literal_eval(node.value)
    return None


def build_wheel(out_dir: Path, *, root: Path) -> Path:
    """Write the student wheel from the kit's project folder ``root`` into ``out_dir``; return its path."""
    root, out_dir = Path(root), Path(out_dir)
    project = _project(root)
    version = str(project["version"])
    files = student_files(root)
    declared = _package_version(root)
    if declared not in (None, version):
        raise ValueError(f"{PACKAGE}/__init__.py's __version__ differs from pyproject.toml's version. "
                         f"Received: {declared!r} and {version!r}")
    check_imports(root, files)
    dist_info = f"{_escaped(DISTRIBUTION)}-{version}.dist-info"
    entries = [(name, (root / name).read_bytes()) for name in files]
    entries += [(f"{dist_info}/METADATA", metadata(project).encode("utf-8")),
                (f"{dist_info}/WHEEL", WHEEL.encode("utf-8"))]
    record_name = f"{dist_info}/RECORD"
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in entries) + f"{record_name},,\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / wheel_name(version)
    temporary = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(temporary, "w") as archive:
        for name, data in entries:
            _add(archive, name, data)
        _add(archive, record_name, record.encode("utf-8"))  # last, as installers expect
    temporary.replace(out)  # never leave a half-written wheel under the real name
    return out

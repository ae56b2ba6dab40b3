"""Optional extras: without one, cycleml says which to install, and the docs need none.

A user who ran only ``pip install cycleml`` (what ``make demo`` installs) has none of the
extras, while this test environment has them all. Each case runs in a subprocess whose
``PYTHONPATH`` starts with a folder holding a stand-in package that fails to import the way
a missing one does, so the real import machinery (and the real ``cycleml`` command) meets a
missing module; no cycleml code is patched.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cycleml.settings import ENV_VARS
from test_docs import DOC_FILES, ROOT, blocks

CYCLEML = Path(sys.executable).with_name("cycleml")
NOT_INSTALLED = "raise ModuleNotFoundError(\"No module named '{name}'\", name={name!r})\n"


def _hide(tmp_path: Path, *names: str, body: str = NOT_INSTALLED) -> dict[str, str]:
    """An environment in which importing each of ``names`` fails with ``body``."""
    shadow = tmp_path / "shadow"
    for name in names:
        (shadow / name).mkdir(parents=True)
        (shadow / name / "__init__.py").write_text(body.format(name=name))
    env = {k: v for k, v in os.environ.items() if k not in {v.name for v in ENV_VARS}}
    env["PYTHONPATH"] = os.pathsep.join([str(shadow), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _python(code: str, env: dict[str, str], cwd: Path) -> dict[str, object]:
    """Run ``code`` (which prints one JSON line last) and return that JSON."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def _doc_text_blocks(name: str) -> list[str]:
    return [b.body.strip() for b in blocks(ROOT / "docs" / name) if b.lang == "text"]


# ---- polars: Datasets.load(output="polars") ------------------------------------------
POLARS_ERROR = (
    'load(output="polars") needs polars, which is not installed. Hint: Install it with '
    '`pip install "cycleml[polars]"`, or load with output="arrow" or output="pandas", '
    "which need nothing extra."
)


def test_load_as_polars_without_polars_names_the_extra_and_records_nothing(
    tmp_path: Path,
) -> None:
    result = _python(
        """
        import json
        import pyarrow as pa
        import cycleml, cycleml.data as data
        from cycleml.errors import InvalidInput

        cycleml.configure(home=".")
        data.ingest("iris", pa.table({"id": [1, 2, 3]}))
        with cycleml.start_run(run_name="reads") as run:
            try:
                data.load("iris", output="polars")
            except InvalidInput as exc:
                error = {"message": str(exc), "details": exc.details,
                         "cause": type(exc.__cause__).__name__}
        tags = cycleml.get_run(run.info.run_id).data.tags
        inputs = [key for key in tags if key.startswith("cycleml.input.")]
        print(json.dumps({"error": error, "inputs": inputs,
                          "pandas_rows": len(data.load("iris", output="pandas"))}))
        """,
        _hide(tmp_path, "polars"),
        tmp_path,
    )
    assert result["error"] == {
        "message": POLARS_ERROR,
        "details": {"module": "polars", "extra": "polars"},
        "cause": "ModuleNotFoundError",
    }
    assert result["inputs"] == []  # refused before the read was recorded as the run's input
    assert result["pandas_rows"] == 3  # the core outputs still work
    assert POLARS_ERROR in _doc_text_blocks("data.md")  # the docs show the real message


# ---- psycopg: PostgreSQL metadata stores -------------------------------------------------
def _postgres_error(shown_uri: str) -> str:
    return (
        f"The metadata store URI {shown_uri!r} needs psycopg 3 (the driver cycleml uses for "
        "postgresql:// and postgresql+psycopg:// URIs; it does not use psycopg2), which is "
        'not installed.\nHint: Install it with `pip install "cycleml[postgres]"`.'
    )


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        (
            "postgresql+psycopg://ml@db.internal:5432/cycleml",
            "postgresql+psycopg://ml@db.internal:5432/cycleml",
        ),
        # SQLAlchemy's default driver for this scheme is psycopg2; cycleml uses psycopg 3
        ("postgresql://ml:s3cret@db.internal/cycleml", "postgresql://ml:***@db.internal/cycleml"),
    ],
)
def test_cli_with_a_postgres_uri_without_psycopg_prints_one_message(
    tmp_path: Path, uri: str, shown: str
) -> None:
    done = subprocess.run(
        [str(CYCLEML), "--metadata-uri", uri, "runs", "list"],
        env=_hide(tmp_path, "psycopg"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert output.strip() == f"Error: {_postgres_error(shown)}"
    assert "Traceback" not in output
    assert "s3cret" not in output
    if uri.startswith("postgresql+psycopg://ml@db.internal:5432/"):  # the URI docs/stores.md uses
        assert output.strip() in _doc_text_blocks("stores.md")


def test_python_api_with_a_postgres_uri_without_psycopg_raises_invalid_input(
    tmp_path: Path,
) -> None:
    result = _python(
        """
        import json
        import cycleml
        from cycleml.errors import InvalidInput
        from cycleml.store import open_database

        errors = []
        for attempt in (
            lambda: open_database("postgresql://ml@localhost/cycleml"),
            lambda: cycleml.configure(metadata_uri="postgresql+psycopg://ml@localhost/cycleml")
            .client.search_runs([]),
        ):
            try:
                attempt()
            except InvalidInput as exc:
                errors.append({"message": exc.message, "hint": exc.hint,
                               "details": exc.details})
        print(json.dumps({"errors": errors}))
        """,
        _hide(tmp_path, "psycopg"),
        tmp_path,
    )
    errors = result["errors"]
    assert isinstance(errors, list)
    assert len(errors) == 2
    for error, shown in zip(
        errors,
        ["postgresql://ml@localhost/cycleml", "postgresql+psycopg://ml@localhost/cycleml"],
        strict=True,
    ):
        message, hint = _postgres_error(shown).split("\nHint: ")
        assert error == {
            "message": message,
            "hint": hint,
            "details": {"module": "psycopg", "extra": "postgres"},
        }


def test_a_broken_psycopg_install_is_reported_with_its_import_error(tmp_path: Path) -> None:
    # psycopg without psycopg[binary] and without libpq fails like this on import
    env = _hide(tmp_path, "psycopg", body='raise ImportError("no pq wrapper available.")\n')
    done = subprocess.run(
        [str(CYCLEML), "--metadata-uri", "postgresql://ml@localhost/cycleml", "runs", "list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "cannot be imported (no pq wrapper available.)" in output
    assert 'pip install "cycleml[postgres]"' in output
    assert "Traceback" not in output


# ---- the docs need only core dependencies --------------------------------------------------
def _core_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}


def test_docs_python_blocks_import_only_core_dependencies() -> None:
    core = _core_distributions()
    providers = metadata.packages_distributions()
    outside: list[str] = []
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        for block in blocks(path):
            if block.lang != "python":
                continue
            for node in ast.walk(ast.parse(block.body)):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in (n.split(".")[0] for n in names):
                    if name in sys.stdlib_module_names or name == "cycleml":
                        continue
                    if f'"{name}.py"' in text:  # a module the example itself writes
                        continue
                    dists = {canonicalize_name(d) for d in providers.get(name, [])}
                    if not dists & core:
                        outside.append(f"{block.where}: import {name} ({sorted(dists)})")
    assert not outside, "docs examples import packages outside the core dependencies:\n" + (
        "\n".join(outside)
    )


@pytest.mark.slow
def test_data_and_tracking_docs_run_without_polars_and_matplotlib(tmp_path: Path) -> None:
    """The two pages whose examples needed polars and matplotlib run with neither."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "tests" / "test_docs.py"),
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            "python_blocks and (data.md or tracking.md)",
        ],
        env=_hide(tmp_path, "polars", "matplotlib"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout, done.stdout[-2000:]

"""Keep the user documentation true.

1. Every fenced ``python`` block of README.md and docs/*.md runs: each file's blocks in
   order, in one namespace, in a fresh project folder. A block whose info string is
   ``python raises=<ErrorName>`` must raise that error (or a subclass), and the next fenced
   block must be a ``text`` block showing ``str(error)``. In that text, ``<run_id>`` (any
   ``<..._id>``) stands for a 32-hex-character id.
2. Every ``cycleml <command> [<subcommand>]`` in a ``console`` block is a real command.
3. index.md lists every ``CYCLEML_*`` variable; spec.md names every built-in metric.
4. Every relative link in README.md and docs/*.md points to an existing file.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import cycleml
import cycleml.cli
from cycleml.settings import ENV_VARS
from cycleml.spec import list_metrics
from cycleml.tracking import Tracker

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOC_FILES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*(.*)$")
_RAISES = re.compile(r"^raises=(\w+)$")
_ID_PLACEHOLDER = re.compile(r"<\w*id>")
_GLOBAL_OPTIONS = {"--home", "--metadata-uri", "--artifact-uri"}


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    attrs: tuple[str, ...]
    body: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of ``path``, in order."""
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        fence, info = match.group(1), match.group(2).split()
        start, body = i, []
        i += 1
        closing = re.compile(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*")
        while i < len(lines) and not closing.fullmatch(lines[i]):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        lang = info[0] if info else ""
        found.append(Block(path, start + 1, lang, tuple(info[1:]), "\n".join(body) + "\n"))
    return found


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ---- 1. python blocks run --------------------------------------------------------------
# README.md's quickstart mixes shell and Python blocks: tests/test_readme.py runs it whole.
PYTHON_FILES = [
    p for p in DOC_FILES if p.name != "README.md" and any(b.lang == "python" for b in blocks(p))
]


def _expected_error(block: Block) -> str | None:
    for attr in block.attrs:
        match = _RAISES.match(attr)
        if match:
            return match.group(1)
    if block.attrs:
        pytest.fail(f"{block.where}: unknown fence attributes {block.attrs!r}")
    return None


def _matches_shown(shown: str, actual: str) -> bool:
    pattern = "".join(
        "[0-9a-f]{32}" if _ID_PLACEHOLDER.fullmatch(part) else re.escape(part)
        for part in re.split(r"(<\w*id>)", shown.strip())
    )
    return re.fullmatch(pattern, actual.strip()) is not None


@pytest.fixture
def doc_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default_tracker: Callable[..., Tracker]
) -> Iterator[Path]:
    """A fresh project folder as the working directory, with a default tracker on it."""
    for var in ENV_VARS:
        monkeypatch.delenv(var.name, raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    default_tracker(home=tmp_path)
    yield tmp_path
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def _raised(code: object, namespace: dict[str, object]) -> Exception | None:
    """Run ``code``; return the exception it raised, or ``None``."""
    try:
        exec(code, namespace)  # type: ignore[arg-type]
    except Exception as exc:
        return exc
    return None


@pytest.mark.parametrize("path", PYTHON_FILES, ids=_relative)
def test_python_blocks_run(path: Path, doc_project: Path) -> None:
    # "__main__", as for a script a reader saves and runs: guarded blocks run too
    namespace: dict[str, object] = {"__name__": "__main__"}
    all_blocks = blocks(path)
    for index, block in enumerate(all_blocks):
        if block.lang != "python":
            continue
        expected = _expected_error(block)
        error = _raised(compile(block.body, block.where, "exec"), namespace)
        if expected is None:
            if error is not None:
                raise AssertionError(f"{block.where}: the example raised {error!r}") from error
            continue
        if error is None:
            pytest.fail(f"{block.where}: expected {expected}, but nothing was raised")
        names = [cls.__name__ for cls in type(error).__mro__]
        assert expected in names, f"{block.where}: expected {expected}, got {error!r}"
        shown = all_blocks[index + 1] if index + 1 < len(all_blocks) else None
        assert shown is not None, f"{block.where}: no text block shows the error"
        assert shown.lang == "text", f"{block.where}: the next block must show the error"
        assert _matches_shown(shown.body, str(error)), (
            f"{shown.where}: the shown error differs from the real one:\n{error}"
        )


# ---- 2. console commands exist ---------------------------------------------------------
def _command_paths(block: Block) -> list[tuple[str, ...]]:
    """``cycleml`` command paths (``("runs", "list")``) named in a console block."""
    paths = []
    for raw in block.body.splitlines():
        line = raw.strip().removeprefix("$ ")
        if "cycleml" not in line:
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars="&;|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError:
            pytest.fail(f"{block.where}: cannot parse shell line {line!r}")
        segment: list[str] = []
        for token in [*tokens, ";"]:
            if token.strip("&;|"):
                segment.append(token)
                continue
            if segment and Path(segment[0]).name == "cycleml":
                words = segment[1:]
                while words and words[0].split("=")[0] in _GLOBAL_OPTIONS:
                    words = words[1 if "=" in words[0] else 2 :]
                if words and not words[0].startswith("-"):
                    path = [words[0]]
                    known = words[0] in cycleml.cli.COMMANDS
                    is_group = known and hasattr(cycleml.cli.load_command(words[0]), "commands")
                    if is_group and len(words) > 1:
                        path.append(words[1])
                    paths.append(tuple(path))
            segment = []
    return paths


CONSOLE_COMMANDS: dict[tuple[str, ...], str] = {}
for _path in DOC_FILES:
    for _block in blocks(_path):
        if _block.lang in ("console", "bash", "shell", "sh"):
            for _command in _command_paths(_block):
                CONSOLE_COMMANDS.setdefault(_command, _block.where)


def test_console_blocks_name_commands() -> None:
    assert len(CONSOLE_COMMANDS) >= 10, CONSOLE_COMMANDS


@pytest.mark.parametrize(
    ("command", "where"),
    sorted(CONSOLE_COMMANDS.items()),
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else v,
)
def test_console_command_exists(
    command: tuple[str, ...], where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        cycleml.cli.main([*command, "--help"])
    output = capsys.readouterr()
    assert done.value.code == 0, (
        f"{where}: `cycleml {' '.join(command)}` is not a command:\n{output.err}"
    )


# ---- 3. reference lists are complete ---------------------------------------------------
def test_index_lists_every_env_var() -> None:
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    missing = [v.name for v in ENV_VARS if not re.search(rf"\b{v.name}\b", text)]
    assert not missing, f"docs/index.md does not mention {missing}"


def test_spec_names_every_builtin_metric() -> None:
    text = (DOCS / "spec.md").read_text(encoding="utf-8")
    missing = [name for name in list_metrics() if f"`{name}`" not in text]
    assert not missing, f"docs/spec.md does not name the metrics {missing}"


# ---- 4. relative links resolve ---------------------------------------------------------
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)


def _links(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    for block in blocks(path):
        text = text.replace(block.body, "")
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code is not a link
    return [*_LINK.findall(text), *_REF_LINK.findall(text)]


RELATIVE_LINKS = sorted(
    {
        (_relative(path), target.split("#")[0])
        for path in DOC_FILES
        for target in _links(path)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target) and not target.startswith("#")
    }
)


@pytest.mark.parametrize(("source", "target"), RELATIVE_LINKS, ids=lambda v: v)
def test_relative_link_exists(source: str, target: str) -> None:
    resolved = (ROOT / source).parent / target
    assert resolved.exists(), f"{source} links to {target}, which does not exist"

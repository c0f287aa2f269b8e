"""The Python examples in README.md ("### From Python") run as written against a live bridgedock.

Each tested example is the ```python block right after a line
`<!-- tested: python PACKAGE VERSION -->` (PACKAGE: `mcp` or `fastmcp`). The test:

- checks VERSION is the one pinned for that package (tests/python-mcp2/requirements.txt for
  mcp 2.x and fastmcp, tests/python/requirements.txt for mcp 1.x), and runs the example with the
  python of the venv that has it;
- substitutes only what differs from a user's machine: the address `127.0.0.1:7455` becomes this
  daemon's, and `TOKEN` its token. Nothing else of the example is touched;
- expects on stdout exactly what the example's `print(...)  # comment`s say, in order, and exit 0.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

README = REPO / "README.md"
MARKER = re.compile(r"^<!-- tested: python (?P<package>mcp|fastmcp) (?P<version>\S+) -->$")
README_ADDRESS = "127.0.0.1:7455"
README_TOKEN = "TOKEN"
MCP1_VENV = Path(
    os.environ.get("BRIDGEDOCK_TEST_VENV", Path.home() / ".cache" / "bridgedock" / "test-venv")
)


def python_section() -> list[str]:
    lines = README.read_text().splitlines()
    start = lines.index("### From Python")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("#"))
    return lines[start:end]


def readme_examples() -> list[tuple[str, str, str]]:
    """(package, version, code) for each marked block, in README order."""
    section = python_section()
    examples = []
    for i, line in enumerate(section):
        m = MARKER.match(line)
        if not m:
            continue
        assert section[i + 1] == "```python", f"the line after {line!r} must open a ```python block"
        end = section.index("```", i + 2)
        examples.append((m["package"], m["version"], "\n".join(section[i + 2:end]) + "\n"))
    return examples


def pinned(requirements: Path, package: str) -> str:
    for line in requirements.read_text().splitlines():
        if line.startswith(f"{package}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{package} is not pinned in {requirements}")


def interpreter_for(package: str, version: str) -> str:
    """The python that has PACKAGE==VERSION, as pinned for the suites."""
    if package == "mcp" and version.startswith("1."):
        requirements, python = REPO / "tests/python/requirements.txt", MCP1_VENV / "bin" / "python"
    else:
        requirements, python = REPO / "tests/python-mcp2/requirements.txt", Path(sys.executable)
    assert version == pinned(requirements, package), (
        f"README says it tests {package} {version}, but {requirements} pins {pinned(requirements, package)}"
    )
    assert python.exists(), f"{python} is missing: run scripts/setup-test-deps"
    return str(python)


def expected_output(code: str) -> list[str]:
    return [line.split("#", 1)[1].strip() for line in code.splitlines() if "print(" in line and "#" in line]


def test_the_readme_has_a_tested_example_for_each_python_sdk():
    found = [(package, version) for package, version, _ in readme_examples()]
    assert [p for p, _ in found] == ["mcp", "fastmcp", "mcp"], found
    assert found[0][1].startswith("2.") and found[2][1].startswith("1."), found


@pytest.mark.parametrize("index", range(3), ids=["mcp-2", "fastmcp", "mcp-1"])
def test_a_readme_example_runs_as_written(daemon, index, tmp_path):
    package, version, code = readme_examples()[index]
    python = interpreter_for(package, version)
    assert README_ADDRESS in code and README_TOKEN in code, "the example has no address or token to fill in"
    script = tmp_path / f"example_{package}.py"
    script.write_text(code.replace(README_ADDRESS, daemon.addr).replace(README_TOKEN, daemon.token))

    installed = subprocess.run(
        [python, "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
        capture_output=True, text=True, timeout=60,
    )
    assert installed.stdout.strip() == version, f"{python} has {package} {installed.stdout.strip()}: {installed.stderr}"

    run = subprocess.run([python, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, f"the {package} {version} example failed:\n{run.stderr}"
    assert run.stdout.splitlines() == expected_output(code), (
        f"the {package} {version} example printed:\n{run.stdout}\nstderr:\n{run.stderr}"
    )

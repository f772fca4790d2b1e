"""Importing any module of the project changes neither ``sys.path`` nor the filesystem: a package
is loaded for what it defines, and only a program (``python -m ...``) sets things up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sam_template", "local_stack", "ops", "bench", "shared/connection_tracker", "functions")
SKIPPED_FOLDERS = {".git", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".aws-sam"}


def modules() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT / "shared" if package.startswith("shared/") else ROOT)
            if path.name != "__main__.py":  # a program, run by `python -m`, not imported
                found.append(".".join(relative.with_suffix("").parts).removesuffix(".__init__"))
    return found


def snapshot() -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file of the tree, outside the virtual environments and caches."""
    files = {}
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [s for s in subfolders if s not in SKIPPED_FOLDERS and not s.startswith(".venv")]
        for name in names:
            stat = (Path(folder) / name).stat()
            files[str(Path(folder, name).relative_to(ROOT))] = (stat.st_size, stat.st_mtime_ns)
    return files


PROGRAM = """
import importlib, json, sys
changed = {}
for name in sys.argv[1:]:
    before = list(sys.path)
    importlib.import_module(name)
    if sys.path != before:
        changed[name] = [p for p in sys.path if p not in before]
print(json.dumps(changed))
"""


def test_importing_any_module_changes_neither_sys_path_nor_files():
    names = modules()
    assert len(names) > 40, names
    before = snapshot()
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))},
        # the layer and the project as the dev venv's .pth file provides them
        "PYTHONPATH": os.pathsep.join([str(ROOT / "shared"), str(ROOT)]),
        "PYTHONDONTWRITEBYTECODE": "1",  # the interpreter's own caches are not the package's doing
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",  # the seed's code (bench/reference_connect.py) makes a client
    }
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, *names],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {}, "these modules change sys.path when imported"
    assert snapshot() == before, "importing wrote to the tree"

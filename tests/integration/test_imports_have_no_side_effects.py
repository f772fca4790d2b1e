"""Importing any module of the project changes neither ``sys.path`` nor the filesystem: a package
is loaded for what it defines, and only a program (``python -m ...``) sets things up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sam_template", "local_stack", "ops", "bench", "shared/connection_tracker", "functions")
# caches, and what running programs write (the local stack's working folder, .local-stack)
SKIPPED_FOLDERS = {".git", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".aws-sam"}
SKIPPED_FOLDERS |= {".local-stack"}


def modules() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT / "shared" if package.startswith("shared/") else ROOT)
            if path.name != "__main__.py":  # a program, run by `python -m`, not imported
                found.append(".".join(relative.with_suffix("").parts).removesuffix(".__init__"))
    return found


def skipped(folder: str) -> bool:
    return folder in SKIPPED_FOLDERS or folder.startswith(".venv")


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file of the tree, outside the virtual environments and caches."""
    files = {}
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [s for s in subfolders if not skipped(s)]
        for name in names:
            stat = (Path(folder) / name).stat()
            files[str(Path(folder, name).relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return files


PROGRAM = """
import importlib, json, os, sys
changed, elsewhere = {}, []
for name in sys.argv[1:]:
    before = list(sys.path)
    module = importlib.import_module(name)
    if sys.path != before:
        changed[name] = [p for p in sys.path if p not in before]
    if not module.__file__.startswith(os.getcwd() + os.sep):
        elsewhere.append(module.__file__)
print(json.dumps({"changed": changed, "elsewhere": elsewhere}))
"""


def test_importing_any_module_changes_neither_sys_path_nor_files(tmp_path):
    names = modules()
    assert len(names) > 40, names
    # imported from a copy of the tree, so that only the imports can write to it: `make test` runs
    # other tests beside this one, and the stacks they start write into the tree's .local-stack/
    tree = tmp_path / "tree"
    shutil.copytree(ROOT, tree, ignore=lambda _folder, entries: [e for e in entries if skipped(e)])
    before = snapshot(tree)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))},
        # the layer and the project as the dev venv's .pth file provides them (ahead of that file's
        # own entries, which name the original tree)
        "PYTHONPATH": os.pathsep.join([str(tree / "shared"), str(tree)]),
        "PYTHONDONTWRITEBYTECODE": "1",  # the interpreter's own caches are not the package's doing
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",  # the seed's code (bench/reference_connect.py) makes a client
    }
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, *names],
        cwd=tree,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = json.loads(result.stdout)
    assert imported["elsewhere"] == [], "not imported from the copy"
    assert imported["changed"] == {}, "these modules change sys.path when imported"
    assert snapshot(tree) == before, "importing wrote to the tree"

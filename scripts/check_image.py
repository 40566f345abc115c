"""Check what the Lambda image will run, without a Docker engine: `python scripts/check_image.py [Dockerfile]`.

- the base image is AWS Lambda's Python image for arm64, Python 3.12 or newer;
- `CMD` is exactly the contract's handler, `order_creator.handler.lambda_handler`;
- the Dockerfile's `COPY ... ${LAMBDA_TASK_ROOT}/...` lines, replayed into a temporary task root, give a tree
  from which that handler imports (with this interpreter's installed packages standing in for the image's
  requirements layer, and without the editable install of the package, so the copy alone must provide it);
  so must every other handler template.yaml runs on the same image (`ImageConfig.Command`);
- the copy honours `.dockerignore` as Docker does, and nothing only the laptop runs (`order_creator/local`,
  which imports moto) reaches the image.

Prints the image's Python version (e.g. `3.12`) for the arm64 wheel check; exits non-zero on any problem.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from fnmatch import fnmatch
from pathlib import Path

HANDLER = "order_creator.handler.lambda_handler"
BASE_IMAGE = re.compile(r"^public\.ecr\.aws/lambda/python:(?P<version>3\.(?P<minor>\d+))-arm64$")
TASK_ROOT = "${LAMBDA_TASK_ROOT}"
LAPTOP_ONLY = "order_creator/local"

# Run in a fresh interpreter with no site processing: sys.path is the task root, then the packages only.
_IMPORT_PROBE = """
import importlib, json, sys
task_root, packages, handler = sys.argv[1:4]
sys.path[:0] = [task_root, packages]
module_name, _, function_name = handler.rpartition(".")
module = importlib.import_module(module_name)
print(json.dumps({"file": module.__file__, "callable": callable(getattr(module, function_name, None))}))
"""


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    pairs = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def fail(message: str) -> None:
    """Stop with a message naming the Dockerfile problem."""
    raise SystemExit(f"check_image: {message}")


def check(dockerfile: Path) -> str:
    """Check the Dockerfile as described in the module docstring; return the image's Python version."""
    steps = instructions(dockerfile)
    images = [args.split()[0] for keyword, args in steps if keyword == "FROM"]
    if len(images) != 1 or not (base := BASE_IMAGE.match(images[0])):
        fail(f"expected one FROM public.ecr.aws/lambda/python:3.X-arm64, found {images}")
    if int(base["minor"]) < 12:
        fail(f"the image's Python is {base['version']}; 3.12 or newer is required")
    commands = [args for keyword, args in steps if keyword == "CMD"]
    if not commands or json.loads(commands[-1]) != [HANDLER]:
        fail(f'CMD must be ["{HANDLER}"], found {commands[-1] if commands else "none"}')
    with tempfile.TemporaryDirectory() as scratch:
        task_root = Path(scratch)
        for keyword, args in steps:
            if keyword == "COPY":
                _replay_copy(dockerfile.parent, task_root, args)
        if (task_root / LAPTOP_ONLY).exists():
            fail(f"{LAPTOP_ONLY} (laptop only: it imports moto) is copied into the image; .dockerignore it")
        for handler in (HANDLER, *template_commands(dockerfile.parent / "template.yaml")):
            _probe(task_root, handler)
    return base["version"]


def template_commands(template: Path) -> list[str]:
    """The handlers the template's functions run on this image instead of its CMD (`ImageConfig.Command`)."""
    if not template.exists():
        return []
    return re.findall(r"^\s*Command:\s*\[\s*([\w.]+)\s*\]", template.read_text(), flags=re.MULTILINE)


def _probe(task_root: Path, handler: str) -> None:
    packages = sysconfig.get_paths()["purelib"]
    probe = subprocess.run(  # noqa: S603 - our own interpreter and probe
        [sys.executable, "-S", "-c", _IMPORT_PROBE, str(task_root), packages, handler],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        fail(f"{handler} does not import from the image's task root:\n{probe.stderr}")
    found = json.loads(probe.stdout)
    if not found["callable"]:
        fail(f"{handler} is not a callable")
    if not Path(found["file"]).resolve().is_relative_to(task_root.resolve()):
        fail(f"{handler} was imported from {found['file']}, not from the task root")


def _replay_copy(context: Path, task_root: Path, args: str) -> None:
    *sources, destination = args.split()
    if any(source.startswith("--") for source in sources):
        fail(f"COPY with flags is not replayed by this check: COPY {args}")
    if not destination.startswith(TASK_ROOT):
        fail(f"COPY into {destination}: everything must go under {TASK_ROOT}")
    target = task_root / destination.removeprefix(TASK_ROOT).strip("/")
    ignored = _dockerignore(context)

    def skip(directory: str, names: list[str]) -> set[str]:
        relative = Path(directory).resolve().relative_to(context.resolve())
        return {name for name in names if any(fnmatch(str(relative / name), pattern) for pattern in ignored)}

    for source in sources:
        path = context / source
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True, ignore=skip)
        else:
            into = target / path.name if destination.endswith("/") else target
            into.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, into)


def _dockerignore(context: Path) -> list[str]:
    """The patterns of the build context's `.dockerignore` (Docker's `**/` prefix as fnmatch's `*/`)."""
    path = context / ".dockerignore"
    lines = path.read_text().splitlines() if path.exists() else []
    patterns = [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]
    return [p.removeprefix("**/") for p in patterns] + [f"*/{p.removeprefix('**/')}" for p in patterns]


if __name__ == "__main__":
    print(check(Path(sys.argv[1] if len(sys.argv) > 1 else "Dockerfile")))

"""The Docker image holds what its commands need (Docker itself is not available here).

The image's file set is rebuilt from the Dockerfile's COPY lines and .dockerignore, the packages are the ones
pyproject.toml's packages.find selects in it, and a Python that sees only those (and the installed third-party
libraries, without the editable install of this checkout) imports every module and resolves every import
statement in them, including the ones inside functions that a command reaches only when it runs. Every
third-party module they import must come with a runtime dependency, not only with an extra.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import json
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path, PurePosixPath

import pytest
import yaml
from packaging.requirements import Requirement
from setuptools import find_namespace_packages

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", dockerfile)
    lines = (line.strip() for line in joined.splitlines())
    words = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    return [(op.upper(), args) for op, args in words]


def _ignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    path = ROOT / ".dockerignore"
    lines = [line.strip() for line in (path.read_text().splitlines() if path.exists() else [])]
    return [
        (line.startswith("!"), _pattern(line.lstrip("!").strip("/")))
        for line in lines
        if line and not line.startswith("#")
    ]


def _pattern(pattern: str) -> re.Pattern[str]:
    """Docker's matching: Go's filepath.Match on the whole path (`*` stays within a directory), and `**` for any
    number of directories."""
    parts = pattern.split("/")
    regex = ""
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            regex += ".*" if last else "(?:[^/]+/)*"
            continue
        regex += re.sub(r"\\\*|\\\?", lambda m: "[^/]*" if m.group() == r"\*" else "[^/]", re.escape(part))
        regex += "" if last else "/"
    return re.compile(regex + r"\Z")


def _ignored(path: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parent directories decides."""
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for keep, pattern in patterns:
        if any(pattern.match(prefix) for prefix in prefixes):
            ignored = not keep
    return ignored


def _context_files() -> list[str]:
    """The build context as a checkout has it: tracked files and new ones git does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    patterns = _ignore_patterns()
    return [f for f in listed if (ROOT / f).is_file() and not _ignored(f, patterns)]


def build_image_tree(target: Path) -> Path:
    """Copy what the Dockerfile's COPY lines copy into `target` (as the image's root); returns where
    `pip install .` runs (the WORKDIR of that RUN line)."""
    workdir, build_dir = PurePosixPath("/"), None
    files = _context_files()
    for op, args in _instructions((ROOT / "Dockerfile").read_text()):
        if op == "WORKDIR":
            workdir = workdir / args.strip()
        elif op in ("COPY", "ADD"):
            words = json.loads(args) if args.lstrip().startswith("[") else shlex.split(args)
            words = [w for w in words if not w.startswith("--")]
            assert not any(w.startswith("--from") for w in shlex.split(args)), "multi-stage COPY: teach this test"
            *sources, dest = words
            _copy(files, sources, workdir / dest, dest.endswith("/") or len(sources) > 1, target)
        elif op == "RUN" and re.search(r"pip install (\S+ )*\.(\s|$)", args):
            build_dir = workdir
    assert build_dir is not None, "the Dockerfile has no `pip install .`"
    return target / str(build_dir).lstrip("/")


def _copy(files: list[str], sources: list[str], dest: PurePosixPath, into_dir: bool, target: Path) -> None:
    for source in sources:
        source = source.rstrip("/") or "."
        matched = False
        for file in files:
            if source == "." or file == source or fnmatch.fnmatch(file, source):
                relative = file if source == "." else PurePosixPath(file).name
            elif file.startswith(source + "/"):
                relative = file[len(source) + 1 :]
            else:
                continue
            matched = True
            out = dest / relative if (into_dir or source == "." or file != source) else dest
            path = target / str(out).lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / file, path)
        assert matched, f"COPY {source}: nothing in the build context matches it"


def _packages(build_dir: Path) -> tuple[Path, list[str]]:
    """What `pip install .` installs from a tree: where pyproject.toml's packages.find looks, and the packages
    (with a module) it selects there."""
    find = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    where = build_dir / find.get("where", ["."])[0]
    found = find_namespace_packages(str(where), include=find.get("include", ["*"]), exclude=find.get("exclude", []))
    return where, sorted(p for p in found if any((where / p.replace(".", "/")).glob("*.py")))


# Runs in a Python that sees only the image's packages and the installed third-party libraries: -S skips the
# site module, so the editable install of this checkout (a .pth hook) is not there to fill the gaps.
_PROBE = r"""
import ast, importlib, importlib.util, json, sys
from pathlib import Path

tree, packages, scripts = Path(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
problems, third_party = [], set()

def imports(path, package):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            yield from ((module, alias.name, node.lineno) for alias in node.names)

def origin(name):
    try:
        module = sys.modules.get(name) or importlib.import_module(name)
    except ImportError:
        return None
    locations = list(getattr(module, "__path__", None) or [])  # a namespace package has no __file__
    return str(getattr(module, "__file__", None) or (locations[0] if locations else "built-in"))

def local(name):
    return (origin(name) or "").startswith(str(tree))

graph = {}  # local module -> the modules its code imports (in functions too)
for package in packages:
    for path in sorted((tree / package.replace(".", "/")).glob("*.py")):
        module = package if path.stem == "__init__" else f"{package}.{path.stem}"
        graph[module] = set()
        if path.stem != "__main__" and origin(module) is None:
            problems.append(f"{module} does not import")
        for name, attribute, line in imports(path, package):
            where = f"{path.relative_to(tree)}:{line}"
            if origin(name) is None:
                problems.append(f"{where} imports {name}, which the image does not have")
                continue
            graph[module].add(name)
            if local(name) and attribute and attribute != "*" and not hasattr(sys.modules[name], attribute):
                if origin(f"{name}.{attribute}") is None:
                    problems.append(f"{where} imports {attribute} from {name}, which the image does not have")
                else:
                    graph[module].add(f"{name}.{attribute}")

for module, attribute in scripts:
    if not (local(module) and hasattr(sys.modules[module], attribute)):
        problems.append(f"console script {module}:{attribute} is not in the image")

# Third-party modules a console command can reach: those must come with the runtime dependencies.
reached, todo = set(), [module for module, _ in scripts]
while todo:
    module = todo.pop()
    if module in reached:
        continue
    reached.add(module)
    parents = [module.rsplit(".", i)[0] for i in range(1, module.count(".") + 1)]
    for name in graph.get(module, set()) | set(parents):
        if name in graph:
            todo.append(name)
        elif not local(name):
            third_party.add(name.split(".")[0])
third_party -= set(sys.stdlib_module_names)
print(json.dumps({"problems": problems, "third_party": sorted(third_party)}))
"""


def _probe(build_dir: Path, packages: list[str], scripts: list[list[str]], tmp_path: Path) -> dict:
    libraries = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    env = {"PYTHONPATH": ":".join([str(build_dir), *libraries]), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    empty = tmp_path / "cwd"
    empty.mkdir()
    argv = [sys.executable, "-S", "-c", _PROBE, str(build_dir), json.dumps(packages), json.dumps(scripts)]
    result = subprocess.run(argv, cwd=empty, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Where the installed packages' tree is in the image's file set, and those packages."""
    return _packages(build_image_tree(tmp_path_factory.mktemp("image")))


@pytest.fixture(scope="module")
def probed(image, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _probe(*image, _console_scripts(), tmp_path_factory.mktemp("probe"))


def _console_scripts() -> list[list[str]]:
    return [target.split(":") for target in PYPROJECT["project"]["scripts"].values()]


def _runtime_closure() -> set[str]:
    """The runtime dependencies and what they need in turn, as normalised distribution names."""
    normal = lambda name: re.sub(r"[-_.]+", "-", name).lower()  # noqa: E731
    todo = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    seen: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = normal(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        todo += [Requirement(r) for r in (importlib.metadata.requires(requirement.name) or [])]
    return seen


def test_every_package_and_its_data_of_the_checkout_is_in_the_image(image) -> None:
    where, packages = image
    checkout, expected = _packages(ROOT)
    missing = set(expected) - set(packages)
    assert not missing, f"the Dockerfile does not copy {sorted(missing)}"
    for package, patterns in PYPROJECT["tool"]["setuptools"].get("package-data", {}).items():
        for pattern in patterns:
            wanted = {p.name for p in (checkout / package.replace(".", "/")).glob(pattern)}
            present = {p.name for p in (where / package.replace(".", "/")).glob(pattern)}
            assert wanted <= present, f"{package}/{pattern}: the image lacks {sorted(wanted - present)}"


def test_every_module_and_console_command_imports_in_the_image(probed) -> None:
    assert probed["problems"] == []


def test_every_third_party_import_is_a_runtime_dependency(probed) -> None:
    closure = _runtime_closure()
    providers = importlib.metadata.packages_distributions()
    outside = {}
    for module in probed["third_party"]:
        distributions = {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(module, [module])}
        if not distributions & closure:
            outside[module] = sorted(distributions)
    assert not outside, f"imported at run time but only in an extra (or nowhere): {outside}"


def test_compose_commands_exist_in_the_image(image, tmp_path: Path) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    commands = [s["command"] for s in compose["services"].values() if s.get("build")]
    scripts = {name: target.split(":") for name, target in PYPROJECT["project"]["scripts"].items()}
    for command in commands:
        assert command[0] in scripts, f"{command[0]} is not a console script of pyproject.toml"
    build_dir, _ = image
    probe = (
        "import importlib, json, sys; import click\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    group = getattr(importlib.import_module(sys.argv[2]), sys.argv[3])\n"
        "    ctx = click.Context(group)\n"
        "    assert group.get_command(ctx, argv[1]) is not None, argv\n"
    )
    libraries = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    for script in {c[0] for c in commands}:
        module, attr = scripts[script]
        argv = [sys.executable, "-S", "-c", probe, json.dumps([c for c in commands if c[0] == script]), module, attr]
        result = subprocess.run(
            argv,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={"PYTHONPATH": ":".join([str(build_dir), *libraries])},
        )
        assert result.returncode == 0, result.stderr[-2000:]

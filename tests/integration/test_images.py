"""The three container images, checked without a Docker engine.

Each Dockerfile is parsed; the checks pin down what the images promise: a slim Python base
at a pinned version, only the image's own extra installed against constraints.txt (which
pins every transitive dependency), dependencies installed before the source is copied, a
non-root numeric user, an exec-form ENTRYPOINT, and an ignore file for the repository-root
build context. The ENTRYPOINT command is then run from the project's environment with
``--help``: what the image would start exists and starts.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
IMAGES = {
    "trainer-image": ("trainer", "automl.trainer"),
    "serving-image": ("serving", "automl.serving"),
    "operator": ("operator", "automl.operator"),
}


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(path: Path) -> list[Stage]:
    """Instructions per build stage, with line continuations joined and ARG defaults applied to FROM."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # comments inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif keyword == "FROM":
            words = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), rest).split()
            stages.append(Stage(words[0], words[2] if len(words) > 2 and words[1].upper() == "AS" else None))
        else:
            assert stages, f"{path}: {keyword} before FROM"
            stages[-1].instructions.append((keyword, rest.strip()))
    return stages


@pytest.fixture(params=sorted(IMAGES), ids=lambda d: d)
def image(request: pytest.FixtureRequest) -> tuple[str, str, str, list[Stage]]:
    directory = request.param
    extra, module = IMAGES[directory]
    return directory, extra, module, parse(ROOT / directory / "Dockerfile")


def test_every_stage_is_a_pinned_slim_python_base(image: tuple[str, str, str, list[Stage]]) -> None:
    directory, _, _, stages = image
    for stage in stages:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", stage.base), (
            directory,
            stage.base,
        )


def test_only_the_image_extra_is_installed_against_the_constraints(
    image: tuple[str, str, str, list[Stage]],
) -> None:
    directory, extra, _, stages = image
    final = stages[-1]
    runs = " ".join(final.all("RUN"))
    assert f"['optional-dependencies']['{extra}']" in runs, directory
    others = set(IMAGES.values()) - {(extra, IMAGES[directory][1])}
    for other, _ in others:
        assert f"['{other}']" not in runs, f"{directory} installs the {other} extra too"
    assert "--constraint constraints.txt" in runs
    for stage in stages:  # any package named on a pip command line carries its exact version
        for run in stage.all("RUN"):
            for install in re.findall(r"pip install ([^&]*)", run):
                named = [
                    w
                    for w in install.split()
                    if not w.startswith("-") and "/" not in w and not w.endswith(".txt")
                ]
                assert all("==" in w for w in named), (directory, install)


def test_dependencies_are_installed_before_the_source_is_copied(
    image: tuple[str, str, str, list[Stage]],
) -> None:
    directory, _, _, stages = image
    final = stages[-1]
    order = [(kw, args) for kw, args in final.instructions if kw in ("RUN", "COPY")]
    deps = next(i for i, (kw, args) in enumerate(order) if kw == "RUN" and "--requirement" in args)
    source = next(
        i for i, (kw, args) in enumerate(order) if kw == "COPY" and ("src" in args or "--from" in args)
    )
    assert deps < source, directory
    assert not any(kw == "COPY" and re.search(r"(^|\s)(src|\.)(\s|$)", args) for kw, args in order[:deps]), (
        directory
    )


def test_runs_as_a_non_root_numeric_user_with_an_exec_form_entrypoint(
    image: tuple[str, str, str, list[Stage]],
) -> None:
    directory, _, module, stages = image
    final = stages[-1]
    users = final.all("USER")
    assert users, f"{directory}: no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, (directory, users[-1])
    entrypoints = final.all("ENTRYPOINT")
    assert len(entrypoints) == 1, directory
    assert json.loads(entrypoints[0]) == ["python", "-m", module]


def test_the_context_ignore_file_keeps_only_what_the_image_copies(
    image: tuple[str, str, str, list[Stage]],
) -> None:
    directory, _, _, stages = image
    ignore = (ROOT / directory / "Dockerfile.dockerignore").read_text().split("\n")
    patterns = [p.strip() for p in ignore if p.strip() and not p.startswith("#")]
    assert patterns[0] == "*", "exclude everything by default"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for stage in stages:
        for copy in stage.all("COPY"):
            if copy.startswith("--from"):
                continue
            for source in copy.split()[:-1]:
                assert source.rstrip("/") in allowed, (
                    f"{directory}: COPY {source} is excluded from the context"
                )


def test_the_entrypoint_runs_from_the_project_environment(image: tuple[str, str, str, list[Stage]]) -> None:
    directory, _, _, stages = image
    command = json.loads(stages[-1].all("ENTRYPOINT")[0])
    assert command[0] == "python"
    result = subprocess.run(
        [sys.executable, *command[1:], "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, f"{directory}: {' '.join(command)} --help failed:\n{result.stderr}"
    assert "usage" in result.stdout.lower()


@pytest.mark.parametrize("extra", sorted({extra for extra, _ in IMAGES.values()}))
def test_constraints_pin_every_dependency_of_each_extra(extra: str) -> None:
    """What ``pip install -c constraints.txt .[extra]`` installs is fully pinned, transitively."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"constraints.txt: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"][extra]]
    seen: set[str] = set()
    unpinned = []
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        if name not in pins:
            unpinned.append(name)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in ("", *req.extras)):
                todo.append(sub)
    assert not unpinned, f"{extra}: not pinned in constraints.txt: {sorted(unpinned)}"


def test_the_requirements_step_lists_the_core_and_the_extra(image: tuple[str, str, str, list[Stage]]) -> None:
    """Run the Dockerfile's own requirements command, as the image build would, from the repo root."""
    directory, extra, _, stages = image
    runs = " ".join(stages[-1].all("RUN"))
    match = re.search(r'python -c "(.*?)" > requirements\.txt', runs)
    assert match, f"{directory}: no requirements step"
    result = subprocess.run(
        [sys.executable, "-c", match.group(1)], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert result.stdout.split() == project["dependencies"] + project["optional-dependencies"][extra]

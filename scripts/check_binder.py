"""Prove the Binder environment without Docker.

Binder builds the image with repo2docker from ``binder/``: the Python of
``runtime.txt``, the pinned third-party packages of ``requirements.txt``, the libraries of
``apt.txt``, then ``postBuild`` (which installs simlib itself). This script checks both
halves that can be checked on one machine without a Docker daemon:

- ``repo2docker``: ``repo2docker --no-build --no-run`` accepts the repository and writes a
  Dockerfile that uses our Python, requirements, apt packages and postBuild;
- ``notebooks``: a fresh venv built only from ``binder/requirements.txt`` plus the
  ``postBuild`` step executes every notebook under ``notebooks/`` top to bottom, at small
  sizes (a cell tagged ``parameters`` gets overrides injected after it, papermill-style),
  and reports each kernel's peak RSS; then the venv's Jupyter server opens the README's
  Binder urlpaths (``voila/render/...`` renders without a cell error, ``lab/tree/...``
  serves JupyterLab and the file).

The venv is cached under ``build/binder/`` keyed by the hash of ``requirements.txt``'s pins
and the interpreter version, so only the first run (or a changed pin) pays for ``pip
install``; ``postBuild`` runs every time, so the notebooks always see the current source.

    python scripts/check_binder.py                  # both checks
    python scripts/check_binder.py --only notebooks --param queries=300
    python scripts/check_binder.py --rebuild        # drop the cached venv first
    python scripts/check_binder.py --relock         # re-pin binder/requirements.txt with uv

Needs: the ``pythonX.Y`` named by ``runtime.txt`` on PATH, and access to PyPI when a venv
is (re)built. Exit status: 0 all good, 1 a check failed, 2 the set-up is missing.
Only the standard library is used here; tools run in their own venvs under ``build/``.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
REQUIREMENTS = BINDER / "requirements.txt"
BUILD = ROOT / "build" / "binder"

#: Tools the checks run, each in its own cached venv (never in the project's runtime deps).
REPO2DOCKER = "jupyter-repo2docker==2026.4.0"
UV = "uv==0.13.9"

#: Small sizes for the notebook run: names a notebook's ``parameters`` cell may assign.
SMALL_PARAMS: dict[str, object] = {"queries": 500}

#: Runs inside the Binder venv: execute one (already parameterised) notebook with nbclient
#: and report the kernel's peak RSS (the kernel is a reaped child by the time it returns).
_DRIVER = r"""
import json, resource, sys, time
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

src, out, timeout_s = sys.argv[1], sys.argv[2], int(sys.argv[3])
nb = nbformat.read(src, as_version=4)
client = NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                        resources={"metadata": {"path": sys.argv[4]}})
t0 = time.perf_counter()
error = None
try:
    client.execute()
except CellExecutionError as exc:
    error = str(exc)
finally:
    nbformat.write(nb, out)
rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"seconds": time.perf_counter() - t0, "kernel_peak_rss_mb": rss_mb, "error": error}))
"""


class SetupError(RuntimeError):
    """Something the check needs is missing (exit status 2)."""


def log(message: str) -> None:
    print(f"[{Path(sys.argv[0]).stem or 'check_binder'}] {message}", flush=True)


def run(cmd: list[str | Path], **kwargs) -> subprocess.CompletedProcess:
    cmd = [str(c) for c in cmd]
    result = subprocess.run(cmd, text=True, capture_output=True, **kwargs)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, cmd, result.stdout, result.stderr)
    return result


# --- interpreters and cached venvs ---------------------------------------------------------------

def runtime_python() -> Path:
    """The interpreter named by ``binder/runtime.txt`` (``python-3.11`` -> ``python3.11``)."""
    text = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", text)
    if not match:
        raise SetupError(f"binder/runtime.txt must read python-X.Y, got {text!r}")
    exe = shutil.which(f"python{match.group(1)}")
    if exe is None:
        raise SetupError(f"runtime.txt asks for Python {match.group(1)}: python{match.group(1)} is not on PATH")
    return Path(exe)


def python_version(python: Path) -> str:
    return run([python, "-c", "import platform; print(platform.python_version())"]).stdout.strip()


def cached_venv(prefix: str, key_parts: list[bytes], python: Path, install: list[list[str]],
                rebuild: bool = False, where: Path = BUILD) -> Path:
    """A venv under ``where`` named ``prefix-<hash of key_parts>``, built once.

    ``install`` holds argument lists for ``pip install``. A venv is ready once its
    ``.ready`` marker exists; a half-built one (interrupted) is rebuilt, and venvs of the
    same prefix with another key are deleted (they belong to older pins).
    """
    digest = hashlib.sha256(b"\0".join([python_version(python).encode(), *key_parts])).hexdigest()[:16]
    venv = where / f"{prefix}-{digest}"
    ready = venv / ".ready"
    for other in where.glob(f"{prefix}-*"):
        if other != venv or rebuild:
            shutil.rmtree(other, ignore_errors=True)
    if ready.exists():
        log(f"reusing {venv.relative_to(ROOT)}")
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    where.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log(f"building {venv.relative_to(ROOT)} with {python} ({python_version(python)})")
    run([python, "-m", "venv", venv])
    for args in install:
        run([venv / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check", *args])
    ready.write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
    log(f"built in {time.perf_counter() - t0:.0f} s")
    return venv


def binder_venv(rebuild: bool = False) -> Path:
    """The venv built only from ``binder/requirements.txt`` (then checked with pip check)."""
    python = runtime_python()
    pins = [line for line in REQUIREMENTS.read_text().splitlines() if line.strip() and not line.startswith("#")]
    venv = cached_venv("venv", ["\n".join(pins).encode()], python,
                       [["--requirement", str(REQUIREMENTS)]], rebuild=rebuild)
    run([venv / "bin" / "python", "-m", "pip", "check"])
    return venv


def tool(spec: str, exe: str) -> Path:
    """An executable from a one-package tool venv (repo2docker, uv), built once."""
    venv = cached_venv("tool-" + spec.split("==")[0], [spec.encode()], Path(sys.executable), [[spec]])
    return venv / "bin" / exe


def venv_env(venv: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env.update(extra)
    return env


# --- repo2docker ---------------------------------------------------------------------------------

def check_repo2docker() -> dict:
    """``repo2docker --no-build --no-run``: the Dockerfile it would build, checked."""
    exe = tool(REPO2DOCKER, "repo2docker")
    t0 = time.perf_counter()
    result = subprocess.run([str(exe), "--no-build", "--no-run", "--debug", str(ROOT)],
                            text=True, capture_output=True, cwd=BUILD)
    output = result.stdout + result.stderr
    problems = [] if result.returncode == 0 else [f"repo2docker exited with {result.returncode}"]
    version = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    apt = [line.partition("#")[0].strip() for line in (BINDER / "apt.txt").read_text().splitlines()]
    expected = {
        f"Python {version} from runtime.txt": f"python={version}",
        "requirements.txt installed": 'pip install --no-cache-dir -r "binder/requirements.txt"',
        "postBuild run": "./binder/postBuild",
        "apt.txt installed": " ".join(p for p in apt if p),
    }
    for what, needle in expected.items():
        if needle not in output:
            problems.append(f"{what}: {needle!r} not in the generated Dockerfile")
    # the layer-caching promise: requirements are installed before the whole repo is copied
    pip_at = output.find('-r "binder/requirements.txt"')
    copy_repo = re.search(r"^COPY \S* ?src/ \$\{REPO_DIR\}/$", output, re.MULTILINE)
    copy_repo_at = copy_repo.start() if copy_repo else -1
    if pip_at < 0 or copy_repo_at < 0 or pip_at > copy_repo_at:
        problems.append("requirements.txt is not installed before the repository is copied (no layer cache)")
    seconds = time.perf_counter() - t0
    for p in problems:
        log(f"repo2docker: {p}")
    if problems:
        print(output[-4000:])
    else:
        log(f"repo2docker accepts the repository ({seconds:.1f} s)")
    return {"ok": not problems, "problems": problems, "seconds": seconds}


# --- notebooks -----------------------------------------------------------------------------------

def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


def inject_parameters(nb: dict, params: dict[str, object]) -> list[str]:
    """Insert ``name = value`` after the ``parameters`` cell, for the names it assigns.

    Returns the names overridden (empty when the notebook has no such cell or none of the
    names appear in it).
    """
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code" or "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        source = "".join(cell.get("source", []))
        assigned = {t.id for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.Assign, ast.AnnAssign))
                    for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                    if isinstance(t, ast.Name)}
        names = [n for n in params if n in assigned]
        if names:
            nb["cells"].insert(index + 1, {
                "cell_type": "code", "execution_count": None, "outputs": [],
                "metadata": {"tags": ["injected-parameters"]},
                "source": "# injected by scripts/check_binder.py\n" + "".join(f"{n} = {params[n]!r}\n" for n in names),
            })
        return names
    return []


def jupyter_env(venv: Path, workdir: Path) -> dict[str, str]:
    """The venv on PATH, and no user Jupyter config or kernelspecs: the venv's own only."""
    jupyter = workdir / ".jupyter"
    return venv_env(venv, JUPYTER_CONFIG_DIR=str(jupyter / "config"), JUPYTER_DATA_DIR=str(jupyter / "data"),
                    JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"), MPLBACKEND="Agg")


def run_notebook(venv: Path, src: Path, workdir: Path, params: dict[str, object], timeout_s: int) -> dict:
    nb = json.loads(src.read_text(encoding="utf-8"))
    injected = inject_parameters(nb, params)
    staged = workdir / "notebooks" / src.name
    staged.write_text(json.dumps(nb), encoding="utf-8")
    executed = BUILD / "executed" / src.name
    result = subprocess.run([str(venv / "bin" / "python"), "-c", _DRIVER, str(staged), str(executed),
                             str(timeout_s), str(staged.parent)],
                            text=True, capture_output=True, cwd=staged.parent, env=jupyter_env(venv, workdir))
    try:
        report = json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        report = {"seconds": None, "kernel_peak_rss_mb": None,
                  "error": f"driver exited with {result.returncode}:\n{result.stdout[-2000:]}{result.stderr[-4000:]}"}
    report.update(notebook=src.name, injected={n: params[n] for n in injected}, ok=report["error"] is None)
    return report


def check_notebooks(params: dict[str, object], jobs: int, timeout_s: int, rebuild: bool) -> dict:
    found = notebooks()
    t0 = time.perf_counter()
    venv = binder_venv(rebuild=rebuild)
    t_venv = time.perf_counter()
    log("running binder/postBuild")
    post = subprocess.run([str(BINDER / "postBuild")], cwd=ROOT, env=venv_env(venv), text=True, capture_output=True)
    if post.returncode != 0:
        log(f"postBuild failed ({post.returncode}):\n{post.stdout[-3000:]}{post.stderr[-3000:]}")
        return {"ok": False, "problems": ["postBuild failed"], "notebooks": []}
    where = run([venv / "bin" / "python", "-c", "import simlib; print(simlib.__file__)"], cwd=BUILD).stdout.strip()
    if not where.startswith(str(venv)):
        return {"ok": False, "problems": [f"simlib imported from {where}, not the venv"], "notebooks": []}
    t_post = time.perf_counter()

    # a Binder-like home: the notebooks beside data/, run from copies (outputs go nowhere)
    workdir = BUILD / "run"
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "notebooks").mkdir(parents=True)
    shutil.copytree(ROOT / "data", workdir / "data")
    (BUILD / "executed").mkdir(exist_ok=True)
    log(f"executing {len(found)} notebook(s) with {params or 'their own defaults'}, {jobs} at a time")
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        reports = list(pool.map(lambda nb: run_notebook(venv, nb, workdir, params, timeout_s), found))
    for r in reports:
        rss = f"{r['kernel_peak_rss_mb']:.0f} MB" if r["kernel_peak_rss_mb"] else "?"
        secs = f"{r['seconds']:.1f} s" if r["seconds"] else "?"
        log(f"  {'ok  ' if r['ok'] else 'FAIL'} {r['notebook']:<40} {secs:>8}  kernel peak RSS {rss}")
        if not r["ok"]:
            print(r["error"][-6000:], flush=True)
    problems = [] if found else ["no notebooks under notebooks/"]
    problems += [f"{r['notebook']} failed" for r in reports if not r["ok"]]
    t_notebooks = time.perf_counter()
    log("opening the Binder urlpaths on the venv's Jupyter server")
    problems += check_urlpaths(venv, workdir, timeout_s)
    timing = {"venv_s": t_venv - t0, "postbuild_s": t_post - t_venv, "notebooks_s": t_notebooks - t_post,
              "urlpaths_s": time.perf_counter() - t_notebooks}
    log("times: " + ", ".join(f"{k} {v:.1f}" for k, v in timing.items()))
    return {"ok": not problems, "problems": problems, "notebooks": reports, "timing": timing,
            "params": params, "venv": str(venv.relative_to(ROOT))}


def binder_urlpaths() -> list[str]:
    """The two urlpaths the README's badges must use, plus any other the README has."""
    paths = ["voila/render/notebooks/01_dashboard.ipynb", "lab/tree/notebooks/01_dashboard.ipynb"]
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    for query in re.findall(r"https://mybinder\.org/v2/gh/[^?\s)]+\?([^\s)\"]+)", text):
        paths += urllib.parse.parse_qs(query).get("urlpath", [])
    return list(dict.fromkeys(urllib.parse.unquote(p).lstrip("/") for p in paths))


def check_urlpaths(venv: Path, workdir: Path, timeout_s: int) -> list[str]:
    """Serve the Binder-like home with the venv's Jupyter server and open each urlpath.

    ``voila/render/X`` must render X without a cell error; ``lab/tree/X`` must serve
    JupyterLab and X must exist for the contents API. Returns the problems.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [str(venv / "bin" / "jupyter"), "server", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           "--ServerApp.token=", "--ServerApp.password=", *(["--allow-root"] if os.geteuid() == 0 else [])]
    base = f"http://127.0.0.1:{port}/"
    problems = []
    with open(BUILD / "server.log", "w") as server_log:
        server = subprocess.Popen(cmd, cwd=workdir, env=jupyter_env(venv, workdir), stdout=server_log,
                                  stderr=subprocess.STDOUT)
        try:
            def get(path: str, timeout: float = timeout_s) -> tuple[int, str]:
                try:
                    with urllib.request.urlopen(base + path, timeout=timeout) as response:
                        return response.status, response.read().decode("utf-8", "replace")
                except urllib.error.HTTPError as exc:
                    return exc.code, ""

            for _ in range(120):  # the server starts in a few seconds
                try:
                    if server.poll() is None and get("api/status", 2)[0] == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.5)
            else:
                return [f"the Jupyter server did not start (see {BUILD.relative_to(ROOT)}/server.log)"]
            for urlpath in binder_urlpaths():
                app, _, target = urlpath.partition("/")
                target = target.partition("/")[2]  # after render/ or tree/
                t0 = time.perf_counter()
                status, body = get(urlpath)
                problem = None
                if status != 200:
                    problem = f"urlpath={urlpath}: HTTP {status}"
                elif app == "voila" and ("error when executing" in body or "Traceback" in body):
                    problem = f"urlpath={urlpath}: Voila shows a cell error"
                elif app == "lab" and get("api/contents/" + urllib.parse.quote(target))[0] != 200:
                    problem = f"urlpath={urlpath}: {target} is not in the contents"
                problems += [problem] if problem else []
                log(f"  {'FAIL' if problem else 'ok  '} urlpath={urlpath} ({time.perf_counter() - t0:.1f} s)")
        finally:
            server.terminate()
            server.wait(30)
    return problems


# --- re-pinning ----------------------------------------------------------------------------------

def relock() -> None:
    """Re-pin ``binder/requirements.txt`` from pyproject.toml with uv, keeping its header."""
    version = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    floor = python_version(runtime_python())  # some pins need a patch-level floor (>=3.11.5)
    if not floor.startswith(version + "."):
        raise SetupError(f"runtime.txt says {version}, the python found is {floor}")
    result = subprocess.run(
        [str(tool(UV, "uv")), "pip", "compile", "pyproject.toml", "-", "--extra", "dashboard", "--extra", "export",
         "--python-version", floor, "--python-platform", "x86_64-manylinux_2_28", "--no-annotate", "--no-header",
         "--quiet"],
        input="notebook\n", text=True, capture_output=True, cwd=ROOT)
    if result.returncode != 0:
        raise SetupError(f"uv pip compile failed:\n{result.stderr}")
    header = REQUIREMENTS.read_text().split("\n\n", 1)[0]
    REQUIREMENTS.write_text(header + "\n\n" + result.stdout)
    log(f"re-pinned {REQUIREMENTS.relative_to(ROOT)} ({result.stdout.count('==')} packages)")


# --- command line --------------------------------------------------------------------------------

def parse_param(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"--param takes NAME=VALUE, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["repo2docker", "notebooks"], help="run one of the two checks")
    parser.add_argument("--param", action="append", type=parse_param, default=[], metavar="NAME=VALUE",
                        help=f"override a notebook parameter (default: {SMALL_PARAMS})")
    parser.add_argument("--notebook-defaults", action="store_true",
                        help="run the notebooks at their own defaults (what a Binder user gets)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="notebooks run at once")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached venv")
    parser.add_argument("--relock", action="store_true", help="re-pin binder/requirements.txt with uv and exit")
    args = parser.parse_args(argv)

    params = {} if args.notebook_defaults else {**SMALL_PARAMS, **dict(args.param)}
    BUILD.mkdir(parents=True, exist_ok=True)
    try:
        if args.relock:
            relock()
            return 0
        report: dict = {}
        if args.only in (None, "repo2docker"):
            report["repo2docker"] = check_repo2docker()
        if args.only in (None, "notebooks"):
            report["notebooks"] = check_notebooks(params, args.jobs, args.timeout, args.rebuild)
    except SetupError as exc:
        log(f"set-up: {exc}")
        return 2
    except subprocess.CalledProcessError as exc:
        log(f"command failed ({exc.returncode}): {' '.join(exc.cmd)}\n{exc.stdout[-3000:]}{exc.stderr[-3000:]}")
        return 1
    for name, part in report.items():  # one file per check: the tests read them separately
        (BUILD / f"report-{name}.json").write_text(json.dumps(part, indent=2))
    ok = all(part["ok"] for part in report.values())
    log(("all checks passed" if ok else "FAILED") + f"; reports in {BUILD.relative_to(ROOT)}/report-*.json")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

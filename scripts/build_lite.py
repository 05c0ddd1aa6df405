"""Build the browser-only site: JupyterLite with the Pyodide kernel, under ``build/lite``.

    python scripts/build_lite.py                 # build (about 30 s once the tools exist)
    python -m http.server -d build/lite 8000     # then open http://127.0.0.1:8000/lab/

The site holds the notebooks (``files/notebooks``), ``data/`` (``files/data``), the simlib
wheel and every pure-Python wheel the notebooks need that Pyodide does not ship
(``pypi/``), so any static host can serve it. What it still fetches when opened: Pyodide
itself and its packages (numpy, pandas, scipy, pyyaml, pydantic, ...) from the jsDelivr
CDN, because their WebAssembly wheels are published only with Pyodide's releases: not on
PyPI, and the npm ``pyodide`` package carries the interpreter without them. PyPI is never
contacted at run time (``disablePyPIFallback``). docs/binder.md has the details.

How it works:

1. tools in a cached venv under ``build/lite-tools/`` (jupyterlite-core, the Pyodide
   kernel, jupyter-server, and the widget frontends at the versions binder/ pins);
2. the simlib wheel, built from the checkout;
3. the Pyodide lock of the kernel's Pyodide version, from the npm registry's ``pyodide``
   package (``npm pack``, cached), to resolve what micropip will do in the browser: a
   requirement the lock satisfies comes from Pyodide, anything else must be a pure-Python
   wheel shipped in the site (the version binder/requirements.txt pins when it fits);
4. the notebooks, each with one cell added at the top that installs simlib and the widget
   libraries from the site (``%pip install``, which the Pyodide kernel runs with piplite);
5. ``jupyter lite build``, then a check that the site has everything (``--check-only``
   repeats that check on an existing site).

Needs ``npm`` and access to PyPI and the npm registry while building, and the
``packaging`` library in the Python running this script (the project's dev venv has it).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from collections import deque
from email.parser import Parser
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_binder import REQUIREMENTS, ROOT, SetupError, cached_venv, log, run

OUT = ROOT / "build" / "lite"
STAGE = ROOT / "build" / "lite-src"
TOOLS = ROOT / "build" / "lite-tools"
CACHE = ROOT / "build" / "lite-cache"
REPORT = ROOT / "build" / "lite-report.json"

#: The JupyterLite toolchain (build time only). The Pyodide version follows the kernel.
LITE_TOOLS = ["jupyterlite-core==0.8.6", "jupyterlite-pyodide-kernel==0.8.6"]
#: Also in the tools venv, at binder/'s pins: contents indexing and the widget frontends
#: (their labextensions are copied into the site and must match the Python side).
FROM_BINDER_PINS = ["jupyter-server", "ipywidgets", "jupyterlab-widgets", "anywidget", "plotly"]

#: The distribution name (pyproject.toml; the import package is ``simlib``).
DIST = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
#: What the added cell installs: simlib plus the dashboard's widget stack (its
#: ``dashboard`` extra without the server side: jupyterlab and voila have no place here).
INSTALL = [DIST, "ipywidgets", "anywidget"]
#: What the Pyodide kernel installs itself when it starts (its worker's ``initKernel``).
KERNEL_START = ["ipykernel", "comm", "pyodide-kernel", "jedi", "ipython"]

INSTALL_CELL = (
    "# Browser build only (added by scripts/build_lite.py): install simlib and the widget\n"
    "# libraries from this site's wheels; numpy, pandas and scipy come with Pyodide.\n"
    f"%pip install -q {' '.join(INSTALL)}"
)


# --- tools and inputs ----------------------------------------------------------------------------

def binder_pins() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep:
            pins[canonicalize_name(name)] = version
    return pins


def tools_venv() -> Path:
    pins = binder_pins()
    specs = LITE_TOOLS + [f"{name}=={pins[canonicalize_name(name)]}" for name in FROM_BINDER_PINS]
    return cached_venv("venv", [" ".join(specs).encode()], Path(sys.executable), [specs], where=TOOLS)


def build_wheel(tools: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    run([tools / "bin" / "python", "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dest, ROOT])
    (wheel,) = dest.glob(f"{DIST.replace('-', '_')}-*.whl")
    return wheel


def pyodide_lock(tools: Path) -> tuple[str, dict]:
    """The kernel's Pyodide version and its ``pyodide-lock.json`` (npm ``pyodide`` package)."""
    version = run([tools / "bin" / "python", "-c",
                   "from jupyterlite_pyodide_kernel.constants import PYODIDE_VERSION as v; print(v)"]).stdout.strip()
    lock_file = CACHE / f"pyodide-lock-{version}.json"
    if not lock_file.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SetupError("npm is needed to read the Pyodide lock (npm pack pyodide)")
        CACHE.mkdir(parents=True, exist_ok=True)
        for older in CACHE.glob("pyodide-lock-*.json"):  # one lock: closure_problems reads it
            older.unlink()
        packed = run([npm, "pack", f"pyodide@{version}", "--pack-destination", CACHE, "--silent"]).stdout.split()[-1]
        with tarfile.open(CACHE / packed) as tar:
            lock_file.write_bytes(tar.extractfile("package/pyodide-lock.json").read())
        (CACHE / packed).unlink()
    return version, json.loads(lock_file.read_text())


def kernel_wheels(tools: Path) -> list[Path]:
    """The wheels the Pyodide kernel's own piplite index serves (ipykernel shim, ...)."""
    found = sorted(tools.glob("share/jupyter/labextensions/@jupyterlite/pyodide-kernel-extension/static/pypi/*.whl"))
    if not found:
        raise SetupError("the Pyodide kernel's wheels are missing from the tools venv")
    return found


# --- what micropip will do in the browser --------------------------------------------------------

def wheel_metadata(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(name).decode("utf-8"))
    return {"requires": meta.get_all("Requires-Dist") or [], "requires_python": meta.get("Requires-Python")}


def browser_environment(lock: dict) -> dict[str, str]:
    """PEP 508 marker values inside Pyodide (what micropip evaluates markers against)."""
    python = lock["info"]["python"]
    env = default_environment()
    env.update(sys_platform="emscripten", platform_system="Emscripten", platform_machine="wasm32",
               os_name="posix", implementation_name="cpython", platform_python_implementation="CPython",
               python_version=".".join(python.split(".")[:2]), python_full_version=python,
               implementation_version=python, platform_release=lock["info"].get("platform", ""), extra="")
    return env


def pure_wheel(tools: Path, name: str, spec: str, python: str) -> Path:
    """A py3-none-any wheel of ``name`` matching ``spec``, from the cache or PyPI."""
    dest = CACHE / "wheels"
    dest.mkdir(parents=True, exist_ok=True)
    pinned = re.fullmatch(r"==([\w.]+)", spec)
    if pinned:
        for cached in dest.glob("*.whl"):
            n, v, *_ = parse_wheel_filename(cached.name)
            if n == name and str(v) == pinned.group(1):
                return cached
    out = run([tools / "bin" / "python", "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--platform", "any", "--implementation", "py", "--abi", "none",
               "--python-version", python, "-d", dest, f"{name}{spec}"])
    match = re.search(r"(?:Saved|File was already downloaded) (\S+\.whl)", out.stdout)
    if not match:
        raise SetupError(f"no pure-Python wheel of {name}{spec} for the browser:\n{out.stdout[-1500:]}")
    return Path(match.group(1))


def resolve(tools: Path, lock: dict, simlib_wheel: Path, kernel: list[Path]) -> dict[str, dict]:
    """Every package the site's kernel and notebooks install, and where micropip finds it.

    micropip takes a requirement from the Pyodide lock when the locked version satisfies
    it, and otherwise from the piplite indexes (the kernel's, then the site's): so every
    requirement must be met by the lock, a kernel wheel, or a wheel this site ships.
    Returns ``{name: {"version", "source": "pyodide"|"kernel"|"site", "wheel"?}}``.
    """
    env = browser_environment(lock)
    python = env["python_version"]
    locked = {canonicalize_name(k): v for k, v in lock["packages"].items()}
    kernel_by_name = {parse_wheel_filename(w.name)[0]: w for w in kernel}
    pins = binder_pins()
    chosen: dict[str, dict] = {}
    # (requirement, who asks, the extras its markers are evaluated with)
    queue = deque((Requirement(r), "the kernel", ()) for r in KERNEL_START)
    queue += [(Requirement(r), "the install cell", ()) for r in INSTALL if r != DIST]
    chosen[canonicalize_name(DIST)] = {"version": parse_wheel_filename(simlib_wheel.name)[1].public, "source": "site",
                        "wheel": simlib_wheel}
    queue += [(Requirement(r), DIST, ()) for r in wheel_metadata(simlib_wheel)["requires"]]
    while queue:
        req, parent, extras = queue.popleft()
        if req.marker and not any(req.marker.evaluate(dict(env, extra=e)) for e in extras or [""]):
            continue
        name = canonicalize_name(req.name)
        if name in chosen:
            if not req.specifier.contains(chosen[name]["version"], prereleases=True):
                raise SetupError(f"{parent} needs {req}, but {name} {chosen[name]['version']} was already chosen")
            if req.extras and "wheel" in chosen[name]:
                queue += [(Requirement(r), name, tuple(req.extras))
                          for r in wheel_metadata(chosen[name]["wheel"])["requires"]]
            continue
        if name in locked and req.specifier.contains(locked[name]["version"], prereleases=True):
            chosen[name] = {"version": locked[name]["version"], "source": "pyodide"}
            continue  # Pyodide loads the lock's own dependencies
        if name in kernel_by_name and req.specifier.contains(parse_wheel_filename(kernel_by_name[name].name)[1]):
            wheel, source = kernel_by_name[name], "kernel"
        else:
            pin = pins.get(name)
            spec = f"=={pin}" if pin and req.specifier.contains(pin, prereleases=True) else str(req.specifier)
            wheel, source = pure_wheel(tools, name, spec, python), "site"
        meta = wheel_metadata(wheel)
        if meta["requires_python"] and env["python_full_version"] not in SpecifierSet(meta["requires_python"]):
            raise SetupError(f"{wheel.name} does not support Python {env['python_full_version']}")
        chosen[name] = {"version": str(parse_wheel_filename(wheel.name)[1]), "source": source, "wheel": wheel}
        queue += [(Requirement(r), name, tuple(req.extras)) for r in meta["requires"]]
    return chosen


# --- the site ------------------------------------------------------------------------------------

def stage(chosen: dict[str, dict]) -> None:
    """The lite dir: config, contents (notebooks with the install cell, data/), wheels."""
    shutil.rmtree(STAGE, ignore_errors=True)
    files = STAGE / "files"
    (files / "notebooks").mkdir(parents=True)
    for src in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(src.read_text(encoding="utf-8"))
        nb["cells"].insert(0, {"cell_type": "code", "execution_count": None, "outputs": [],
                               "metadata": {"tags": ["lite-install"]}, "source": INSTALL_CELL})
        (files / "notebooks" / src.name).write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")
    shutil.copytree(ROOT / "data", files / "data")
    wheels = STAGE / "wheels"
    wheels.mkdir()
    for info in chosen.values():
        if info["source"] == "site":
            shutil.copy2(info["wheel"], wheels)
    (STAGE / "jupyter_lite_config.json").write_text(json.dumps({
        "LiteBuildConfig": {"contents": ["files"], "output_dir": str(OUT), "no_sourcemaps": True},
        "PipliteAddon": {"piplite_urls": ["wheels"]},
    }, indent=2))
    (STAGE / "jupyter-lite.json").write_text(json.dumps({
        "jupyter-lite-schema-version": 0,
        "jupyter-config-data": {
            "appName": "simlib (in your browser)",
            "litePluginSettings": {"@jupyterlite/pyodide-kernel-extension:kernel": {"disablePyPIFallback": True}},
        },
    }, indent=2))


def check_site(site: Path = OUT) -> list[str]:
    """What a working site must hold; returns the problems found (none: the site is complete)."""
    problems = []

    def need(path: Path, what: str) -> None:
        if not path.exists():
            problems.append(f"missing {what}: {path.relative_to(site)}")

    need(site / "index.html", "the entry page")
    need(site / "lab" / "index.html", "JupyterLab")
    config = json.loads((site / "jupyter-lite.json").read_text()) if (site / "jupyter-lite.json").exists() else {}
    kernel_settings = config.get("jupyter-config-data", {}).get("litePluginSettings", {}).get(
        "@jupyterlite/pyodide-kernel-extension:kernel", {})
    if not kernel_settings.get("disablePyPIFallback"):
        problems.append("PyPI fallback is not disabled in jupyter-lite.json")
    if not any(url.split("?")[0] == "./pypi/all.json" for url in kernel_settings.get("pipliteUrls", [])):
        problems.append("the site's wheel index is not in pipliteUrls")
    index = json.loads((site / "pypi" / "all.json").read_text()) if (site / "pypi" / "all.json").exists() else {}
    for name, info in index.items():
        for release in info["releases"].values():
            for artifact in release:
                need(site / "pypi" / artifact["filename"], f"wheel of {name}")
    if canonicalize_name(DIST) not in {canonicalize_name(name) for name in index}:
        problems.append(f"the {DIST} wheel is not in pypi/all.json")
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        need(site / "files" / "notebooks" / nb.name, "notebook")
    for data in sorted(p for p in (ROOT / "data").rglob("[!.]*") if p.is_file()):  # lite skips dotfiles
        need(site / "files" / data.relative_to(ROOT), "data file")
    for ext in ("@jupyter-widgets/jupyterlab-manager", "anywidget", "jupyterlab-plotly",
                "@jupyterlite/pyodide-kernel-extension"):
        need(site / "extensions" / ext / "package.json", "labextension")
    return problems + closure_problems(site)


def closure_problems(site: Path = OUT) -> list[str]:
    """Every requirement of every wheel the site serves, met in the browser?

    Read from the built site alone (its wheel index, the kernel's) plus the Pyodide lock:
    a requirement is met when the lock, the kernel's wheels or the site's wheels hold a
    version that satisfies it, which is where micropip looks (PyPI is switched off).
    """
    kernel_dir = site / "extensions" / "@jupyterlite" / "pyodide-kernel-extension" / "static" / "pypi"
    locks = list(CACHE.glob("pyodide-lock-*.json"))
    if not (site / "pypi").is_dir() or not kernel_dir.is_dir() or not locks:
        return ["no wheel index, kernel wheels or cached Pyodide lock to check the closure against"]
    lock = json.loads(locks[-1].read_text())
    env = browser_environment(lock)
    available: dict[str, set[str]] = {}
    for name, pkg in lock["packages"].items():
        available.setdefault(canonicalize_name(name), set()).add(pkg["version"])
    wheels = sorted((site / "pypi").glob("*.whl")) + sorted(kernel_dir.glob("*.whl"))
    for wheel in wheels:
        name, version, *_ = parse_wheel_filename(wheel.name)
        available.setdefault(name, set()).add(str(version))
    problems = []
    asked = [(Requirement(r), "the install cell") for r in INSTALL] + [(Requirement(r), "the kernel") for r in KERNEL_START]
    for wheel in wheels:
        asked += [(Requirement(r), wheel.name) for r in wheel_metadata(wheel)["requires"]]
    for req, who in asked:
        if req.marker and not req.marker.evaluate(env):
            continue
        versions = available.get(canonicalize_name(req.name), set())
        if not any(req.specifier.contains(v, prereleases=True) for v in versions):
            problems.append(f"{who} needs {req}: the browser has {sorted(versions) or 'nothing'}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check-only", action="store_true", help="check an existing build/lite, build nothing")
    args = parser.parse_args(argv)
    if args.check_only:
        problems = check_site()
        for p in problems:
            log(p)
        return 1 if problems else 0

    t0 = time.perf_counter()
    try:
        tools = tools_venv()
        t_tools = time.perf_counter()
        simlib_wheel = build_wheel(tools, CACHE / "simlib-wheel")
        version, lock = pyodide_lock(tools)
        chosen = resolve(tools, lock, simlib_wheel, kernel_wheels(tools))
    except SetupError as exc:
        log(f"set-up: {exc}")
        return 2
    except subprocess.CalledProcessError as exc:
        log(f"command failed ({exc.returncode}): {' '.join(exc.cmd)}\n{exc.stdout[-2000:]}{exc.stderr[-2000:]}")
        return 2
    stage(chosen)
    shutil.rmtree(OUT, ignore_errors=True)
    built = subprocess.run([str(tools / "bin" / "jupyter"), "lite", "build", "--lite-dir", str(STAGE)],
                           cwd=STAGE, text=True, capture_output=True)
    if built.returncode != 0:
        log(f"jupyter lite build failed:\n{built.stdout[-4000:]}{built.stderr[-4000:]}")
        return 1
    problems = check_site()
    by_source = {s: sorted(f"{n}=={i['version']}" for n, i in chosen.items() if i["source"] == s)
                 for s in ("site", "kernel", "pyodide")}
    REPORT.write_text(json.dumps({
        "pyodide_version": version, "python": lock["info"]["python"], "problems": problems,
        "site_wheels": by_source["site"], "kernel_wheels": by_source["kernel"],
        "from_pyodide_cdn": by_source["pyodide"],
        "pyodide_cdn": f"https://cdn.jsdelivr.net/pyodide/v{version}/full/",
        "tools_s": t_tools - t0, "total_s": time.perf_counter() - t0,
    }, indent=2))
    size_mb = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file()) / 1e6
    log(f"Pyodide {version} (Python {lock['info']['python']}); {len(by_source['site'])} wheels shipped: "
        + ", ".join(by_source["site"]))
    log("from Pyodide's CDN at run time: " + ", ".join(by_source["pyodide"]))
    for p in problems:
        log(f"problem: {p}")
    log(f"{'site incomplete' if problems else 'built'} {OUT.relative_to(ROOT)} ({size_mb:.0f} MB) "
        f"in {time.perf_counter() - t0:.0f} s; report {REPORT.relative_to(ROOT)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""The import graph of ``accelsim`` is one-way, and machine-checked.

Two independent checks, each shown to fail on a deliberately broken package:

* the import-linter contracts of ``pyproject.toml`` (``[tool.importlinter]``): the layers from
  ``accelsim.cli`` down to ``accelsim.errors`` (every top-level module placed), independent hardware
  families, private modules only inside their package; run as ``lint-imports`` in a subprocess;
* an AST scan of every module of the package into a networkx graph (module-level and
  function-level imports, relative imports, ``importlib.import_module("literal")``): the graph has
  no cycle, and no module takes a leading-underscore name from another package.

Private-name rule of the AST scan: the first leading-underscore part of an imported dotted name
decides. A private *module* (``accelsim.hw.systolic._kernels``, ``accelsim._version``) may be
imported anywhere inside the package that contains it (as import-linter's ``private_modules``); a
private *name* defined in a module (``accelsim.dse.cli._axis_columns``) only by modules of the same
package. Dunder names (``__version__``) are public. Module attributes read through an imported
module (``registry._FAMILIES``) count as imports of that name.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "accelsim"
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


# --- the AST checker ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool

    @property
    def package(self) -> str:
        """The package this module belongs to (itself for a package's ``__init__``)."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


@dataclass(frozen=True)
class Import:
    importer: str
    module: str  # the module the statement loads
    name: str | None  # the attribute taken from it (a from-import of a non-module name), else None
    line: int

    @property
    def target(self) -> str:
        return f"{self.module}.{self.name}" if self.name else self.module


def discover(src: Path, package: str) -> dict[str, Module]:
    """Every module of ``package`` (a directory under ``src``), by dotted name."""
    out = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        out[".".join(parts)] = Module(".".join(parts), path, is_package)
    return out


def _inside(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _known(name: str, modules: dict[str, Module]) -> str:
    """``name`` if it is a module, else its nearest ancestor that is (``a.b.attr`` -> ``a.b``)."""
    probe = name
    while probe and probe not in modules:
        probe = probe.rpartition(".")[0]
    return probe or name


def _from_base(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def imports_of(module: Module, modules: dict[str, Module], package: str) -> list[Import]:
    """Every import of a module of ``package`` anywhere in ``module`` (functions included), plus the
    private attributes it reads through names bound to such modules."""
    tree = ast.parse(module.path.read_text(), str(module.path))
    out: list[Import] = []
    bound: dict[str, str] = {}  # local name -> module it refers to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _inside(alias.name, package):
                    out.append(Import(module.name, _known(alias.name, modules), None, node.lineno))
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        head = alias.name.partition(".")[0]
                        bound[head] = head
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(module, node)
            if not _inside(base, package):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:
                    out.append(Import(module.name, sub, None, node.lineno))
                    bound[alias.asname or alias.name] = sub
                else:
                    name = None if alias.name == "*" else alias.name
                    out.append(Import(module.name, _known(base, modules), name, node.lineno))
        elif (isinstance(node, ast.Call) and _dotted(node.func) in ("importlib.import_module", "import_module")
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and _inside(node.args[0].value, package)):
            out.append(Import(module.name, _known(node.args[0].value, modules), None, node.lineno))
    for node in ast.walk(tree):  # attributes read through a bound module name: ``registry._x``
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            head = _dotted(node.value)
            if head and head.partition(".")[0] in bound:
                first, _, rest = head.partition(".")
                target = bound[first] + (f".{rest}" if rest else "")
                if target in modules:
                    out.append(Import(module.name, target, node.attr, node.lineno))
    return out


def _is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def scan(src: Path, package: str) -> tuple[dict[str, Module], list[Import]]:
    modules = discover(src, package)
    return modules, [imp for mod in modules.values() for imp in imports_of(mod, modules, package)]


def import_graph(modules: dict[str, Module], imports: list[Import]) -> nx.DiGraph:
    """Module -> module edges (each with the lines of its import statements)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for imp in imports:
        if graph.has_edge(imp.importer, imp.module):
            graph.edges[imp.importer, imp.module]["lines"].append(imp.line)
        else:
            graph.add_edge(imp.importer, imp.module, lines=[imp.line])
    return graph


def cycles(graph: nx.DiGraph) -> list[str]:
    """One readable cycle (``a (l.3) -> b (l.9) -> a``) per strongly connected group of modules."""
    out = []
    for group in nx.strongly_connected_components(graph):
        first = next(iter(group))
        if len(group) == 1 and not graph.has_edge(first, first):
            continue
        cycle = nx.find_cycle(graph.subgraph(group), source=min(group))
        steps = [f"{u} (l.{graph.edges[u, v]['lines'][0]})" for u, v in cycle]
        out.append(" -> ".join(steps + [cycle[0][0]]))
    return sorted(out)


def private_violations(modules: dict[str, Module], imports: list[Import]) -> list[str]:
    """Imports of a leading-underscore module from outside its package, or of a leading-underscore
    name from a module of another package (see the module docstring)."""
    out = []
    for imp in imports:
        parts = imp.target.split(".")
        for i, part in enumerate(parts):
            if not _is_private(part):
                continue
            prefix = ".".join(parts[:i])
            if ".".join(parts[: i + 1]) in modules:  # a private module: its package and below
                allowed = _inside(imp.importer, prefix)
            else:  # a private name: modules of the package that defines it
                owner = modules[prefix].package if prefix in modules else prefix
                allowed = modules[imp.importer].package == owner
            if not allowed:
                out.append(f"{imp.importer} (l.{imp.line}) uses {imp.target}")
            break
    return sorted(set(out))


# --- accelsim itself ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def accelsim_scan():
    return scan(ROOT, PACKAGE)


def test_import_linter_contracts_are_kept():
    proc = subprocess.run([sys.executable, "-c", LINT, "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " kept, 0 broken." in proc.stdout, proc.stdout


def test_no_import_cycle(accelsim_scan):
    modules, imports = accelsim_scan
    graph = import_graph(modules, imports)
    assert not cycles(graph), "\n".join(cycles(graph))


def test_no_private_name_across_packages(accelsim_scan):
    modules, imports = accelsim_scan
    assert not private_violations(modules, imports), "\n".join(private_violations(modules, imports))


def test_scan_sees_every_module_and_function_level_imports(accelsim_scan):
    modules, imports = accelsim_scan
    assert len(modules) == len(list((ROOT / PACKAGE).rglob("*.py")))
    edges = {(imp.importer, imp.module) for imp in imports}
    assert ("accelsim.cli.core", "accelsim.simulate") in edges  # imported inside cmd_simulate
    assert ("accelsim.cli", "accelsim.cli.dse") in edges  # ``from accelsim.cli import ... dse`` inside build_parser


# --- each check can fail ----------------------------------------------------------------------------

def _write_package(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_cycle_check_finds_function_level_relative_and_importlib_cycles(tmp_path):
    _write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "def f():\n    from pkg import b\n",  # function level
        "pkg/b.py": "from pkg.a import f\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/x.py": "from . import y\n",  # relative
        "pkg/sub/y.py": "from .x import thing\n",
        "pkg/c.py": "import importlib\n\ndef load():\n    return importlib.import_module('pkg.d')\n",
        "pkg/d.py": "import pkg.c\n",
        "pkg/ok.py": "from pkg.sub import x\nimport numpy\n",
    })
    modules, imports = scan(tmp_path, "pkg")
    found = cycles(import_graph(modules, imports))
    assert found == ["pkg.a (l.2) -> pkg.b (l.1) -> pkg.a", "pkg.c (l.4) -> pkg.d (l.1) -> pkg.c",
                     "pkg.sub.x (l.1) -> pkg.sub.y (l.1) -> pkg.sub.x"], found


def test_private_check_flags_names_and_modules_from_other_packages(tmp_path):
    _write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/_version.py": "v = '1'\n",
        "pkg/fam/__init__.py": "",
        "pkg/fam/_kernels.py": "def _dims():\n    pass\n",
        "pkg/fam/model.py": "from pkg.fam._kernels import _dims\nfrom . import _kernels\n\ndef _helper():\n    pass\n",
        "pkg/fam/peer.py": "from pkg.fam.model import _helper\n",  # same package: fine
        "pkg/other/__init__.py": "",
        "pkg/other/user.py": ("from pkg._version import v\n"  # private module of an enclosing package: fine
                              "from pkg.fam.model import _helper\n"
                              "from pkg.fam import _kernels\n"
                              "import pkg.fam.model as m\n"
                              "\n"
                              "def f():\n"
                              "    return m._helper, m.__name__\n"),
    })
    modules, imports = scan(tmp_path, "pkg")
    assert private_violations(modules, imports) == [
        "pkg.other.user (l.2) uses pkg.fam.model._helper",
        "pkg.other.user (l.3) uses pkg.fam._kernels",
        "pkg.other.user (l.7) uses pkg.fam.model._helper",
    ]


def test_import_linter_contracts_fail_on_a_new_violation(tmp_path):
    """The real contracts, on a copy of the package with one new violation of each kind."""
    shutil.copytree(ROOT / PACKAGE, tmp_path / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    breaks = {
        "errors.py": "\n\ndef _probe():\n    from accelsim.cli import main\n",  # bottom layer -> top
        "hw/eie/config.py": "\n\ndef _probe():\n    from accelsim.hw.gpu import config\n",  # family -> family
        "report/export.py": "\n\ndef _probe():\n    from accelsim.hw.systolic import _kernels\n",  # private module
        "hw/systolic/config.py": "\n\ndef _probe():\n    from accelsim.hw.npu import config\n",  # family -> npu
        "hw/npu/config.py": "\n\ndef _probe():\n    from accelsim.hw.gpu import config\n",  # npu -> not systolic
    }
    for rel, text in breaks.items():
        with open(tmp_path / PACKAGE / rel, "a") as fh:
            fh.write(text)
    (tmp_path / PACKAGE / "newthing.py").write_text('"""A top-level module in no layer."""\n')
    proc = subprocess.run([sys.executable, "-c", LINT, "--no-cache", "--no-logo", "pyproject.toml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert " 0 kept, " in out, out
    for expected in ("accelsim.errors -> accelsim.cli", "not listed as layers:\n\n- accelsim.newthing",
                     "accelsim.hw.eie.config -> accelsim.hw.gpu.config",
                     "accelsim.report.export -> accelsim.hw.systolic._kernels"):
        assert expected in out, (expected, out)

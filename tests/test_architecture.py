"""The dependency rules of the package, read from its source (no imports run).

- Rooms are layered; data flows one way: a module imports only from its own room and the rooms
  below it (``LAYERS``).
- Only ``widgets/`` imports the widget toolkits (ipywidgets, ipycanvas, anywidget).
- Only the sam2 adapter and the model builder import sam2.
- No underscore name (``_helper``) is imported or reached across modules.
- No import circles between modules (imports inside functions count too).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "sam2nb"

# room -> layer; a module may import from rooms of its layer or lower. Rooms of the same layer
# (bench and batch) may not import each other.
LAYERS = {
    "base": 0,
    "media": 1,
    "model": 2,
    "tracking": 3,
    "io": 4,
    "analysis": 5,
    "bench": 6,
    "batch": 6,
    "widgets": 7,
    "cli": 8,
}
WIDGET_TOOLKITS = ("ipywidgets", "ipycanvas", "anywidget")
SAM2_MODULES = {"sam2nb.model.adapter", "sam2nb.model.engine"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(name: str) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) for every import, TYPE_CHECKING blocks left out."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip |= {id(n) for child in node.body for n in ast.walk(child)}
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod, [a.name for a in node.names]))
    return out


def _targets(mod: str, names: list[str]) -> list[str]:
    """The sam2nb modules an import reaches (``from pkg import mod`` reaches ``pkg.mod``)."""
    hits = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in MODULES]
    if mod in MODULES and (not hits or len(hits) < len(names)):
        hits.append(mod)
    return hits


def _room(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else None


def _graph() -> dict[str, set[str]]:
    g: dict[str, set[str]] = {}
    for name in MODULES:
        g[name] = set()
        for _, mod, names in _imports(name):
            if mod == "sam2nb" or mod.startswith("sam2nb."):
                g[name] |= {t for t in _targets(mod, names) if t != name}
    return g


def test_every_module_lives_in_a_room():
    loose = [n for n in MODULES if n.count(".") == 1 and _room(n) is None]
    assert sorted(loose) == ["sam2nb.__main__", "sam2nb._version"], loose
    assert {n.split(".")[1] for n in MODULES if n.count(".") >= 1} - {
        "__main__",
        "_version",
    } == set(LAYERS)


def test_rooms_import_only_downwards():
    bad = []
    for name in MODULES:
        room = _room(name)
        if room is None:
            continue
        for line, mod, names in _imports(name):
            for target in _targets(mod, names) if mod.startswith("sam2nb") else []:
                other = _room(target)
                if other is None or other == room:
                    continue
                if LAYERS[other] >= LAYERS[room]:
                    bad.append(
                        f"{MODULES[name].relative_to(ROOT)}:{line} ({room}) imports {target}"
                    )
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("what", "allowed", "banned"),
    [
        ("widget toolkits", lambda n: _room(n) == "widgets", WIDGET_TOOLKITS),
        ("sam2", lambda n: n in SAM2_MODULES, ("sam2",)),
    ],
)
def test_only_their_rooms_import(what, allowed, banned):
    bad = []
    for name in MODULES:
        if allowed(name):
            continue
        for line, mod, _ in _imports(name):
            if mod.split(".")[0] in banned:
                bad.append(f"{MODULES[name].relative_to(ROOT)}:{line} imports {mod}")
    assert not bad, f"{what} imported outside their room:\n" + "\n".join(bad)


def _private(n: str) -> bool:
    return n.startswith("_") and not (n.startswith("__") and n.endswith("__"))


def test_no_underscore_name_crosses_a_module():
    bad = []
    for name in MODULES:
        tree = ast.parse(MODULES[name].read_text())
        aliases: set[str] = set()  # names bound to sam2nb modules here
        for line, mod, names in _imports(name):
            if not mod.startswith("sam2nb"):
                continue
            for n in names:
                if f"{mod}.{n}" in MODULES:
                    aliases.add(n)
                elif _private(n):
                    bad.append(f"{MODULES[name].relative_to(ROOT)}:{line} imports {mod}.{n}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if a.asname and (a.name in aliases):
                        aliases.add(a.asname)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and _private(node.attr)
            ):
                bad.append(
                    f"{MODULES[name].relative_to(ROOT)}:{node.lineno} reaches "
                    f"{node.value.id}.{node.attr}"
                )
    assert not bad, "underscore names used across modules:\n" + "\n".join(bad)


def test_no_import_circles():
    g = _graph()
    g["sam2nb"] = set()  # the flat namespace imports everything; nothing imports it back
    cycles, state = [], {}

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        for m in sorted(g.get(n, ())):
            if state.get(m) == 1:
                cycles.append(" -> ".join(stack[stack.index(m) :] + [m]))
            elif m not in state:
                visit(m, stack + [m])
        state[n] = 2

    for n in sorted(g):
        if n not in state:
            visit(n, [n])
    assert not cycles, "import circles:\n" + "\n".join(cycles)


def test_the_rule_test_sees_imports():
    # guard against a rule test that passes because it reads nothing
    g = _graph()
    assert "sam2nb.tracking.session" in g["sam2nb.tracking.resume"]
    assert "sam2nb.model.adapter" in g["sam2nb.tracking.session"]
    assert any(m == "ipywidgets" for _, m, _ in _imports("sam2nb.widgets.apps"))
    assert sum(len(v) for v in g.values()) > 100

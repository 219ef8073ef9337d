"""The dependency rules of the package, read from its source (no imports run).

- Rooms are layered; data flows one way: a module imports only from its own room and the rooms
  below it (``LAYERS``). Rooms of one layer (tracking and image, bench and batch) do not import
  each other.
- Only ``widgets/`` imports the widget toolkits (ipywidgets, ipycanvas, anywidget).
- Only the sam2 adapters and the model builder import sam2 (``SAM2_MODULES``); only the model
  room's Hugging Face adapters (``sam2nb/model/hf*.py``) import the torch-based model libraries
  beyond torch itself (``MODEL_LIBRARIES``: transformers).
- No underscore name (``_helper``) is imported or reached across modules.
- No private attribute crosses a module: ``obj._name`` (``obj`` not ``self`` or ``cls``) only
  where this module defines ``_name`` itself. A third-party library's privates are reached only
  where ``THIRD_PARTY_PRIVATES`` says why.
- No import circles between modules (imports inside functions count too).

Each rule is a function of the modules it reads; ``test_each_rule_finds_a_planted_violation``
runs every one on a small package with one violation of each kind, so no rule passes because it
reads nothing.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# room -> layer; a module may import from its own room and from rooms of a lower layer. Rooms of
# the same layer (tracking and image, bench and batch) may not import each other.
LAYERS = {
    "base": 0,
    "media": 1,
    "model": 2,
    "storage": 3,
    "prompts": 4,
    "tracking": 5,
    "image": 5,
    "io": 6,
    "analysis": 7,
    "synthetic": 7,
    "bench": 8,
    "batch": 8,
    "widgets": 9,
    "cli": 10,
}
WIDGET_TOOLKITS = ("ipywidgets", "ipycanvas", "anywidget")
SAM2_MODULES = {"sam2nb.model.adapter", "sam2nb.model.engine", "sam2nb.model.sam2_tracker"}
# torch-based model libraries beyond torch itself: only the model room's adapters for them
MODEL_LIBRARIES = ("transformers",)
LOOSE = {"sam2nb.__main__", "sam2nb._version"}  # the only modules outside a room

ARGPARSE = "argparse has no public name for the type add_subparsers returns"
SAM2_IMAGE = "sam2's SAM2ImagePredictor has no public way to ask which image it holds"
HF_SESSION = "transformers' video session keeps its object order only so, and has no remove_object"
HF_PROMPT = (
    "transformers' public prompt API answers a correction as an ordinary tracked frame (the"
    " next propagation loses it) and re-runs every object: a prompt runs its object's step"
)
# file -> {private attribute of a third-party object: why it is reached}. Never a sam2nb object's.
THIRD_PARTY_PRIVATES = {
    "sam2nb/analysis/evaluate.py": {"_SubParsersAction": ARGPARSE},
    "sam2nb/analysis/quality.py": {
        "_SubParsersAction": ARGPARSE,
        "_asdict": "a namedtuple's own public API (pandas itertuples rows) starts with _",
    },
    "sam2nb/cli/batch.py": {"_SubParsersAction": ARGPARSE},
    "sam2nb/cli/bench.py": {"_SubParsersAction": ARGPARSE},
    "sam2nb/cli/everything.py": {"_SubParsersAction": ARGPARSE},
    "sam2nb/cli/track.py": {"_SubParsersAction": ARGPARSE},
    "sam2nb/model/hf_tracker.py": {
        "_obj_id_to_idx": HF_SESSION,
        "_obj_idx_to_id": HF_SESSION,
        "_vision_features": "transformers' session cache says which frame's features it holds"
        " only so (a click there runs no image encoder)",
        "_single_frame_forward": "transformers' outputs carry no IoU; the decoder's step does"
        " (the IoU recorder wraps it)",
        "_use_mask_as_output": "a mask prompt's step: its IoU is none (the IoU recorder)",
        "_run_single_frame_inference": HF_PROMPT,
        "_batch_encode_memories": HF_PROMPT,
    },
    "sam2nb/model/adapter.py": {
        "_CURRENT_BRIDGE": "decord keeps its per-thread bridge with no public getter",
        "_obj_id_to_idx": "sam2's video predictor maps an object id to its index only so",
        "_bb_feat_sizes": "sam2's image predictor hard-codes 1024-px feature sizes, no setter",
        "_is_image_set": SAM2_IMAGE,
        "_orig_hw": SAM2_IMAGE,
        "_sam2nb_holder": "sam2nb's own mark on sam2's image predictor: who set its image",
        "_process_batch": "sam2's automatic mask generator has no hook per point batch",
        "_track_step": "sam2's video model has no hook per tracking step (the IoU recorder)",
    },
    "sam2nb/model/lean.py": {
        "_pe": "sam2's PositionEmbeddingSine has no hook to hand out its cached encodings",
    },
    "sam2nb/widgets/canvas.py": {
        "_canvas_manager": "ipycanvas has no public call that draws already-encoded image bytes",
    },
}
ACCESSORS = {"getattr", "setattr", "hasattr", "delattr"}  # getattr(x, "_name") reaches too


def _modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of the package ``root/sam2nb``."""
    out = {}
    for path in sorted((root / "sam2nb").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules(ROOT)


def _rel(mods: dict[str, Path], name: str) -> str:
    """A module's file, from the folder that holds the package (``sam2nb/base/files.py``)."""
    return mods[name].relative_to(mods["sam2nb"].parents[1]).as_posix()


def _where(mods: dict[str, Path], name: str, line: int) -> str:
    return f"{_rel(mods, name)}:{line}"


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(mods: dict[str, Path], name: str) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) for every import, TYPE_CHECKING blocks left out."""
    path = mods[name]
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


def _targets(mods: dict[str, Path], mod: str, names: list[str]) -> list[str]:
    """The sam2nb modules an import reaches (``from pkg import mod`` reaches ``pkg.mod``)."""
    hits = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in mods]
    if mod in mods and (not hits or len(hits) < len(names)):
        hits.append(mod)
    return hits


def _room(mods: dict[str, Path], name: str) -> str | None:
    """The room (``sam2nb/<room>/``) a module lives in; None for a module of the top folder."""
    parts = name.split(".")
    if len(parts) > 2 or (len(parts) == 2 and mods[name].name == "__init__.py"):
        return parts[1]
    return None


def _graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    g: dict[str, set[str]] = {}
    for name in mods:
        g[name] = set()
        for _, mod, names in _imports(mods, name):
            if mod == "sam2nb" or mod.startswith("sam2nb."):
                g[name] |= {t for t in _targets(mods, mod, names) if t != name}
    return g


# -- the rules: each returns its violations, one line each ---------------------------------------
def room_violations(mods: dict[str, Path]) -> list[str]:
    """Modules of the top folder other than ``LOOSE``, and rooms ``LAYERS`` does not place."""
    bad = []
    for name in mods:
        room = _room(mods, name)
        if room is None and name not in LOOSE | {"sam2nb"}:
            bad.append(f"{_where(mods, name, 1)} lives in no room (sam2nb/<room>/)")
        elif room is not None and room not in LAYERS:
            bad.append(f"{_where(mods, name, 1)} is in room {room!r}, which LAYERS does not place")
    return bad


def layer_violations(mods: dict[str, Path]) -> list[str]:
    """Imports of a room of the same layer or a higher one."""
    bad = []
    for name in mods:
        room = _room(mods, name)
        if room not in LAYERS:
            continue
        for line, mod, names in _imports(mods, name):
            for target in _targets(mods, mod, names) if mod.startswith("sam2nb") else []:
                other = _room(mods, target)
                if other is None or other == room:
                    continue
                if other not in LAYERS or LAYERS[other] >= LAYERS[room]:
                    bad.append(f"{_where(mods, name, line)} ({room}) imports {target}")
    return bad


def banned_import_violations(mods: dict[str, Path], allowed, banned: tuple[str, ...]) -> list[str]:
    """Imports of the top-level packages ``banned`` by modules ``allowed(name)`` refuses."""
    bad = []
    for name in mods:
        if allowed(name):
            continue
        for line, mod, _ in _imports(mods, name):
            if mod.split(".")[0] in banned:
                bad.append(f"{_where(mods, name, line)} imports {mod}")
    return bad


def _private(n: str) -> bool:
    return n.startswith("_") and not (n.startswith("__") and n.endswith("__"))


def underscore_name_violations(mods: dict[str, Path]) -> list[str]:
    """``from sam2nb.x import _name`` and ``x._name`` on a sam2nb module."""
    bad = []
    for name in mods:
        tree = ast.parse(mods[name].read_text())
        aliases: set[str] = set()  # names bound to sam2nb modules here
        for line, mod, names in _imports(mods, name):
            if not mod.startswith("sam2nb"):
                continue
            for n in names:
                if f"{mod}.{n}" in mods:
                    aliases.add(n)
                elif _private(n):
                    bad.append(f"{_where(mods, name, line)} imports {mod}.{n}")
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
                where = _where(mods, name, node.lineno)
                bad.append(f"{where} reaches {node.value.id}.{node.attr}")
    return bad


def _own_privates(tree: ast.Module) -> set[str]:
    """The private names this module defines: its functions, classes and methods (not functions
    nested in functions), class-level names (assigned, annotated: dataclass fields, ``__slots__``)
    and the attributes it sets on ``self`` or ``cls``."""
    out: set[str] = set()

    def scope(body: list[ast.stmt], in_class: bool) -> None:
        for st in body:
            if isinstance(st, ast.FunctionDef | ast.AsyncFunctionDef):
                out.add(st.name)
            elif isinstance(st, ast.ClassDef):
                out.add(st.name)
                scope(st.body, True)
            elif in_class and isinstance(st, ast.Assign | ast.AnnAssign | ast.AugAssign):
                targets = st.targets if isinstance(st, ast.Assign) else [st.target]
                out.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
                if any(isinstance(t, ast.Name) and t.id == "__slots__" for t in targets):
                    out.update(c.value for c in ast.walk(st.value) if isinstance(c, ast.Constant))
            elif isinstance(st, ast.If | ast.Try):  # definitions under a version check
                for part in (st.body, st.orelse, getattr(st, "finalbody", [])):
                    scope(part, in_class)

    scope(tree.body, False)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("self", "cls")
        ):
            out.add(node.attr)
    return {n for n in out if isinstance(n, str) and _private(n)}


def _private_reaches(tree: ast.Module):
    """(line, object, private name) for every ``obj._name`` and ``getattr(obj, "_name")``
    whose ``obj`` is not ``self`` or ``cls``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            obj, attr = node.value, node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ACCESSORS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            obj, attr = node.args[0], node.args[1].value
        else:
            continue
        if isinstance(obj, ast.Name) and obj.id in ("self", "cls"):
            continue
        yield node.lineno, ast.unparse(obj), attr


def private_attribute_violations(
    mods: dict[str, Path], allowed: dict[str, dict[str, str]]
) -> tuple[list[str], list[str]]:
    """Private attributes reached on objects another module owns (``session._busy``), less
    the third-party ones ``allowed`` names; and the entries of ``allowed`` nothing uses."""
    bad, used = [], set()
    for name in mods:
        tree = ast.parse(mods[name].read_text())
        own = _own_privates(tree)
        rel = _rel(mods, name)
        ok = allowed.get(rel, {})
        for line, obj, attr in sorted(_private_reaches(tree)):
            if attr in own:
                continue
            if attr in ok:
                used.add((rel, attr))
                continue
            where = _where(mods, name, line)
            bad.append(f"{where} reaches {obj}.{attr}, which this module does not define")
    stale = [f"{f}: {a}" for f, names in allowed.items() for a in names if (f, a) not in used]
    return bad, stale


def import_cycles(mods: dict[str, Path]) -> list[str]:
    g = _graph(mods)
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
    return cycles


def _is_model_library_adapter(name: str) -> bool:
    return name.startswith("sam2nb.model.hf")


BANNED_IMPORTS = [
    (
        "widget toolkits",
        lambda n: n == "sam2nb.widgets" or n.startswith("sam2nb.widgets."),
        WIDGET_TOOLKITS,
    ),
    ("sam2", lambda n: n in SAM2_MODULES, ("sam2",)),
    ("torch model libraries", _is_model_library_adapter, MODEL_LIBRARIES),
]


# -- the rules on the package ------------------------------------------------------------------
def test_every_module_lives_in_a_room():
    bad = room_violations(MODULES)
    assert not bad, "modules outside the rooms:\n" + "\n".join(bad)
    rooms = {_room(MODULES, n) for n in MODULES} - {None}
    assert rooms == set(LAYERS), f"LAYERS places rooms that are gone: {set(LAYERS) - rooms}"


def test_rooms_import_only_downwards():
    bad = layer_violations(MODULES)
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("what", "allowed", "banned"), BANNED_IMPORTS, ids=[b[0] for b in BANNED_IMPORTS]
)
def test_only_their_rooms_import(what, allowed, banned):
    bad = banned_import_violations(MODULES, allowed, banned)
    assert not bad, f"{what} imported outside their room:\n" + "\n".join(bad)


def test_no_underscore_name_crosses_a_module():
    bad = underscore_name_violations(MODULES)
    assert not bad, "underscore names used across modules:\n" + "\n".join(bad)


def test_no_private_attribute_crosses_a_module():
    bad, stale = private_attribute_violations(MODULES, THIRD_PARTY_PRIVATES)
    assert not bad, (
        "private attributes reached across modules (make them public, or give their module a "
        "method that does it; a third-party one goes in THIRD_PARTY_PRIVATES with why):\n"
        + "\n".join(bad)
    )
    assert not stale, "THIRD_PARTY_PRIVATES names what is no longer reached:\n" + "\n".join(stale)


def test_no_import_circles():
    cycles = import_cycles(MODULES)
    assert not cycles, "import circles:\n" + "\n".join(cycles)


def test_the_rule_test_sees_imports():
    # guard against a rule test that passes because it reads nothing
    g = _graph(MODULES)
    assert "sam2nb.tracking.session" in g["sam2nb.tracking.resume"]
    assert any(m.startswith("sam2nb.model.") for m in g["sam2nb.tracking.session"])
    assert any(m == "ipywidgets" for _, m, _ in _imports(MODULES, "sam2nb.widgets.apps"))
    assert sum(len(v) for v in g.values()) > 100
    reaches = [r for n in MODULES for r in _private_reaches(ast.parse(MODULES[n].read_text()))]
    assert len(reaches) > 10  # the adapter's reaches into sam2, at least


# -- every rule can fail -----------------------------------------------------------------------
PLANTED = {
    "__init__.py": "",
    "loose.py": "",
    "attic/__init__.py": "",
    "base/__init__.py": "",
    "base/low.py": """\
import ipywidgets
import sam2
import transformers
from sam2nb.media import high
from sam2nb.media.high import _hidden
""",
    "media/__init__.py": "",
    "media/high.py": """\
import dataclasses

from sam2nb.base import low


def _hidden():
    pass


@dataclasses.dataclass
class Box:
    _field: int = 0

    def __init__(self):
        self._mine = 1

    def peek(self, other):
        return other._theirs


def fine(box, c):
    return box._mine, box._field, Box._hidden, c._canvas_manager


def reach(x):
    return getattr(x, "_via_getattr")


def module_reach():
    return low._private_fn


def nested(thing):
    def _shadow():
        pass

    return thing._shadow
""",
    "tracking/__init__.py": "",
    "tracking/a.py": "from sam2nb.image import b\n",
    "image/__init__.py": "",
    "image/b.py": "",
    "model/__init__.py": "",
    "model/hf_sam.py": "import transformers\n",
    "widgets/__init__.py": "",
    "widgets/ok.py": "import ipywidgets\n",
}


def test_each_rule_finds_a_planted_violation(tmp_path):
    for rel, text in PLANTED.items():
        path = tmp_path / "sam2nb" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    mods = _modules(tmp_path)

    assert sorted(room_violations(mods)) == [
        "sam2nb/attic/__init__.py:1 is in room 'attic', which LAYERS does not place",
        "sam2nb/loose.py:1 lives in no room (sam2nb/<room>/)",
    ]
    assert layer_violations(mods) == [
        "sam2nb/base/low.py:4 (base) imports sam2nb.media.high",
        "sam2nb/base/low.py:5 (base) imports sam2nb.media.high",
        "sam2nb/tracking/a.py:1 (tracking) imports sam2nb.image.b",  # the same layer
    ]
    found = {
        what: banned_import_violations(mods, ok, banned) for what, ok, banned in BANNED_IMPORTS
    }
    assert found == {
        "widget toolkits": ["sam2nb/base/low.py:1 imports ipywidgets"],
        "sam2": ["sam2nb/base/low.py:2 imports sam2"],
        "torch model libraries": ["sam2nb/base/low.py:3 imports transformers"],
    }
    assert sorted(underscore_name_violations(mods)) == [
        "sam2nb/base/low.py:5 imports sam2nb.media.high._hidden",
        "sam2nb/media/high.py:30 reaches low._private_fn",
    ]
    allowed = {"sam2nb/media/high.py": {"_canvas_manager": "a reason"}, "sam2nb/x.py": {"_y": ""}}
    bad, stale = private_attribute_violations(mods, allowed)
    assert sorted(bad) == [
        "sam2nb/media/high.py:18 reaches other._theirs, which this module does not define",
        "sam2nb/media/high.py:26 reaches x._via_getattr, which this module does not define",
        "sam2nb/media/high.py:30 reaches low._private_fn, which this module does not define",
        "sam2nb/media/high.py:37 reaches thing._shadow, which this module does not define",
    ]
    assert stale == ["sam2nb/x.py: _y"]
    assert import_cycles(mods) == ["sam2nb.base.low -> sam2nb.media.high -> sam2nb.base.low"]

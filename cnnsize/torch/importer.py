"""A torch ``nn.Module`` to a cnnsize spec, through torch.fx.

The module is traced symbolically (nothing runs), shapes come from running the
graph on fake tensors (nothing is allocated), and every graph node becomes a
spec layer, an alias of its input (``contiguous``, ``x.size()``), or a
reported problem. What cannot be expressed is listed in the result and in the
spec's header, never dropped silently: a shape-preserving node becomes an
``identity`` (a size-preserving one a ``reshape``) with a ``note:`` saying what
it stood for.

Where the model repeats a module with the same structure (ResNet's
bottlenecks), :mod:`cnnsize.torch.spec_writer` makes that module a block and
each occurrence an instance, values that differ becoming arguments; the
blocked spec is kept only if it expands to exactly the flat one. To keep
specs short, an activation, a zero pad, a flatten and LeNet's untied bias
are also folded into the layer that produces their input when they are its
only consumer (for a model built by :func:`cnnsize.torch.materialize`, only
inside one spec layer, so the round trip is exact).
"""

from __future__ import annotations

import importlib
import math
import operator
from typing import Any

import torch
import torch.fx
from torch import nn

from cnnsize.engine.kinds import RULES, kinds_in
from cnnsize.engine.registry import Missing
from cnnsize.torch.materialize import Materialized
from cnnsize.torch.modules import LEAF_MODULES, Crop, UntiedBias
from cnnsize.torch.spec_writer import ImportResult, Proto, write_spec


class ImportFailure(Exception):
    pass


class _Tracer(torch.fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, LEAF_MODULES) or super().is_leaf_module(m, qualname)


ALIAS_METHODS = {"contiguous", "clone", "detach", "float", "to"}
# kinds derived from the registry: which take a fused activation, which a
# folded zero pad, which let a flatten move across them
FUSE_ACT_INTO = frozenset(k for k, r in RULES.items() if "activation" in r.keys)
PAD_INTO = frozenset(k for k, r in RULES.items() if r.category in ("conv", "pool") and "padding" in r.keys)
SHAPE_AGNOSTIC = frozenset(k for k, r in RULES.items() if r.pointwise)
ACT_TO_KEY = frozenset(kinds_in("activation"))


def _resolve(dotted: str) -> Any:
    """The object a dotted name names (the longest importable module prefix, then attributes)."""
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"cannot resolve {dotted!r}")


Converter = Any
_TABLES: list[dict[Any, Converter]] = []


def torch_tables() -> tuple[dict[Any, Converter], dict[Any, Converter], dict[str, Converter]]:
    """(module class, function, Tensor method name) -> converter, from every
    registry entry's ``from_torch``; built once, on the first import. Two
    kinds claiming one torch object is an error."""
    if not _TABLES:
        tables: list[dict[Any, Converter]] = [{}, {}, {}]
        owner: dict[Any, str] = {}
        for kind, rule in RULES.items():
            if isinstance(rule.from_torch, Missing):
                continue
            for tm in rule.from_torch:
                for table, names, resolve in (
                    (tables[0], tm.modules, True),
                    (tables[1], tm.functions, True),
                    (tables[2], tm.methods, False),
                ):
                    for name in names:
                        obj = _resolve(name) if resolve else name
                        if obj in table and owner[obj] != kind:
                            raise ValueError(f"torch {name} is mapped by both {owner[obj]!r} and {kind!r}")
                        table[obj], owner[obj] = tm.convert, kind
        _TABLES.extend(tables)
    return _TABLES[0], _TABLES[1], _TABLES[2]  # type: ignore[return-value]


class _Importer:
    def __init__(self, model: nn.Module, input_shape: tuple[int, ...], name: str, blocks: bool = True) -> None:
        self.blocks = blocks
        self.model = model
        self.input_shape = tuple(input_shape)
        self.name = name
        self.materialized = isinstance(model, Materialized)
        self.protos: dict[str, Proto] = {}  # by fx node name
        self.alias: dict[str, str] = {}  # fx node name -> fx node name whose value it is
        self.unsupported: list[str] = []
        self.notes: list[str] = []
        self.outputs: list[str] = []

    # -- tracing ----------------------------------------------------------------

    def trace(self) -> torch.fx.GraphModule:
        try:
            graph = _Tracer().trace(self.model)
        except Exception as exc:  # noqa: BLE001 - fx raises many kinds; the user needs the reason
            raise ImportFailure(f"torch.fx cannot trace this model symbolically: {type(exc).__name__}: {exc}") from None
        gm = torch.fx.GraphModule(self.model, graph)
        from torch._subclasses.fake_tensor import FakeTensorMode
        from torch.fx.passes.shape_prop import ShapeProp

        mode = FakeTensorMode(allow_non_fake_inputs=True)
        dev = next((p.device for p in self.model.parameters()), torch.device("cpu"))
        dtype = next((p.dtype for p in self.model.parameters() if p.is_floating_point()), torch.float32)
        import contextlib
        import io

        try:
            with mode:
                x = torch.empty(1, *self.input_shape, device=dev, dtype=dtype)
            # ShapeProp prints its own traceback before raising; the user gets one line
            with contextlib.redirect_stderr(io.StringIO()):
                ShapeProp(gm, fake_mode=mode).propagate(x)
        except Exception as exc:  # noqa: BLE001
            root = exc.__cause__ or exc
            raise ImportFailure(
                f"the model does not run on input {list(self.input_shape)}: {type(root).__name__}: "
                f"{str(root).splitlines()[0] if str(root) else ''}"
            ) from None
        return gm

    # -- helpers -------------------------------------------------------------------

    def shape(self, node: torch.fx.Node) -> tuple[int, ...] | None:
        tm = node.meta.get("tensor_meta")
        if tm is None or not hasattr(tm, "shape"):
            return None
        return tuple(int(s) for s in tm.shape[1:])

    def owner(self, node: torch.fx.Node) -> str | None:
        stack = node.meta.get("nn_module_stack")
        if stack:
            first = next(iter(stack.values()))[0]
            return str(first).split(".")[0] if self.materialized else str(first)
        if node.op == "call_module":
            return str(node.target).split(".")[0]
        return None

    def resolve(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def tensor_args(self, node: torch.fx.Node) -> list[torch.fx.Node]:
        out: list[torch.fx.Node] = []
        for a in node.args:
            if isinstance(a, torch.fx.Node):
                out.append(a)
            elif isinstance(a, (list, tuple)):
                out += [x for x in a if isinstance(x, torch.fx.Node)]
        return [a for a in out if self.shape(a) is not None or a.op == "placeholder"]

    def add(
        self,
        node: torch.fx.Node,
        kind: str,
        params: dict[str, Any],
        inputs: list[torch.fx.Node] | None = None,
        note: str = "",
        pad_value: float | None = None,
    ) -> None:
        ins = inputs if inputs is not None else self.tensor_args(node)[:1]
        nm = str(node.target) if node.op == "call_module" else node.name
        stack = node.meta.get("nn_module_stack")
        if node.op != "call_module" and stack:
            # a function called in a submodule's forward: named after that submodule
            nm = f"{list(stack.values())[-1][0]}.{node.name.rstrip('0123456789').rstrip('_') or node.name}"
        custom = [
            (str(qual), getattr(typ, "__name__", "block"))
            for qual, typ in (stack or {}).values()
            if str(qual) != str(node.target) and not getattr(typ, "__module__", "").startswith("torch.nn")
        ]
        self.protos[node.name] = Proto(
            nm,
            kind,
            params,
            [self.resolve(a.name) for a in ins],
            self.shape(node) or (),
            self.owner(node),
            note,
            pad_value,
            custom=custom,
        )

    def unsupported_node(self, node: torch.fx.Node, what: str) -> None:
        ins = self.tensor_args(node)
        out = self.shape(node)
        src = self.shape(ins[0]) if ins else None
        desc = f"{node.op} {what} (node '{node.name}')"
        self.unsupported.append(desc)
        if out is not None and src is not None and out == src:
            self.add(node, "identity", {}, ins[:1], note=f"NOT EXPRESSED: {desc}")
        elif out is not None and src is not None and math.prod(out) == math.prod(src):
            self.add(node, "reshape", {"shape": list(out)}, ins[:1], note=f"NOT EXPRESSED: {desc}")
        else:
            raise ImportFailure(
                f"cannot express {desc}: it changes {list(src or [])} into {list(out or [])}; nothing in the spec "
                "format can stand in for it"
            )

    # -- conversion ----------------------------------------------------------------

    def run(self) -> ImportResult:
        gm = self.trace()
        placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise ImportFailure(f"the model takes {len(placeholders)} inputs; cnnsize specs have one input")
        for node in gm.graph.nodes:
            if node.op == "placeholder":
                self.alias[node.name] = "input"
            elif node.op == "output":
                outs = node.args[0]
                outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
                for o in outs:
                    if not isinstance(o, torch.fx.Node):
                        raise ImportFailure("the model returns something other than tensors")
                    self.outputs.append(self.resolve(o.name))
            elif node.op == "get_attr":
                self.unsupported.append(f"get_attr {node.target} (a tensor used directly in forward)")
            elif node.op == "call_module":
                self.module(node, gm.get_submodule(str(node.target)))
            elif node.op == "call_function":
                self.function(node)
            elif node.op == "call_method":
                self.method(node)
        self.fuse()
        return self.emit()

    def nd(self, node: torch.fx.Node) -> int:
        """Spatial axes of the node's first tensor input (0 when unknown)."""
        src = self.src_shape(node)
        return len(src) - 1 if src else 0

    def src_shape(self, node: torch.fx.Node) -> tuple[int, ...] | None:
        ins = self.tensor_args(node)
        return self.shape(ins[0]) if ins else None

    def out_shape(self, node: torch.fx.Node) -> tuple[int, ...] | None:
        return self.shape(node)

    @staticmethod
    def is_node(a: Any) -> bool:
        return isinstance(a, torch.fx.Node)

    def module(self, node: torch.fx.Node, m: nn.Module) -> None:
        if isinstance(m, UntiedBias):
            self.add(node, "untied_bias", {})
            return
        if isinstance(m, Crop):
            self.add(node, "crop", {"crops": [list(c) for c in m.crops]})
            return
        modules = torch_tables()[0]
        for cls in type(m).__mro__:  # the most specific class a kind maps
            convert = modules.get(cls)
            if convert is not None:
                convert(self, node, m)
                return
        self.unsupported_node(node, f"module {type(m).__module__}.{type(m).__name__} '{node.target}'")

    def function(self, node: torch.fx.Node) -> None:
        t = node.target
        try:
            convert = torch_tables()[1].get(t)
        except TypeError:  # an unhashable target
            convert = None
        if convert is not None:
            convert(self, node, t)
        elif t is operator.getitem and not self.tensor_args(node):
            pass  # indexing a shape tuple: not a tensor
        elif self.src_shape(node) is None and self.shape(node) is None:
            pass  # arithmetic on sizes, not tensors
        else:
            self.unsupported_node(node, f"function {getattr(t, '__module__', '')}.{getattr(t, '__name__', t)}")

    def method(self, node: torch.fx.Node) -> None:
        m = str(node.target)
        ins = self.tensor_args(node)
        if self.shape(node) is None:
            return  # x.size(), x.dim(): not tensors
        src = self.shape(ins[0]) if ins else None
        convert = torch_tables()[2].get(m)
        if m in ALIAS_METHODS and ins and self.shape(node) == src:
            self.alias[node.name] = self.resolve(ins[0].name)
        elif convert is not None:
            convert(self, node, m)
        else:
            self.unsupported_node(node, f"method Tensor.{m}")

    # -- folding -------------------------------------------------------------------

    def consumers(self) -> dict[str, list[str]]:
        users: dict[str, list[str]] = {}
        for key, p in self.protos.items():
            for i in p.inputs:
                users.setdefault(i, []).append(key)
        for o in self.outputs:
            users.setdefault(o, []).append("<output>")
        return users

    def foldable(self, src: Proto, dst: Proto) -> bool:
        if self.materialized:
            return src.owner is not None and src.owner == dst.owner
        return True

    def feeds_fc(self, key: str, users: dict[str, list[str]]) -> bool:
        """True when ``key``'s value reaches exactly one fc through shape-agnostic
        layers only (dropout, identity, element-wise activations)."""
        cur = key
        for _ in range(len(self.protos)):
            u = users.get(cur, [])
            if len(u) != 1 or u[0] not in self.protos:
                return False
            nxt = self.protos[u[0]]
            if nxt.kind == "fc":
                return True
            if nxt.kind not in SHAPE_AGNOSTIC:
                return False
            cur = u[0]
        return False

    def fold(self, key: str, into: str) -> None:
        """Remove proto ``key`` (whose only input is ``into``): its users read ``into``."""
        del self.protos[key]
        for p in self.protos.values():
            p.inputs = [into if i == key else i for i in p.inputs]
        self.outputs = [into if o == key else o for o in self.outputs]

    def fuse(self) -> None:
        changed = True
        while changed:
            changed = False
            users = self.consumers()
            for key, p in list(self.protos.items()):
                if key not in self.protos:
                    continue
                u = users.get(key, [])
                # a zero (or -inf before max) pad feeding one conv/pool: its padding
                if p.kind == "pad" and p.params["mode"] == "constant" and len(u) == 1 and u[0] in self.protos:
                    nxt = self.protos[u[0]]
                    ok_value = (p.pad_value == float("-inf")) if nxt.kind == "maxpool" else (p.pad_value == 0.0)
                    if (
                        nxt.kind in PAD_INTO
                        and ok_value
                        and self.foldable(p, nxt)
                        and nxt.params.get("padding", 0) in (0, "valid")
                        and not (nxt.kind == "avgpool" and not nxt.params["count_include_pad"])
                    ):
                        nxt.params["padding"] = p.params["padding"]
                        nxt.inputs = list(p.inputs)
                        del self.protos[key]
                        changed = True
                        break
                if p.kind in ("untied_bias", "crop") or (
                    p.kind in ACT_TO_KEY and p.inputs and p.inputs[0] in self.protos
                ):
                    src_key = p.inputs[0] if p.inputs else None
                    src = self.protos.get(src_key) if src_key else None
                    if src is None or src_key is None or users.get(src_key, []) != [key] or not self.foldable(src, p):
                        continue
                    if p.kind == "untied_bias" and src.kind in ("conv", "dwconv") and src.params.get("bias") is False:
                        src.params["bias"] = "untied"
                    elif p.kind == "untied_bias" and src.kind == "sepconv":
                        pass  # the sepconv leaf already said untied
                    elif p.kind == "crop" and src.kind == "deconv" and src.params.get("padding", 0) == 0:
                        src.params["padding"] = p.params["crops"]
                    elif p.kind == "crop" and src.kind in ("maxpool", "avgpool", "lppool"):
                        pass  # the spec's own ceil-mode rule drops that window
                    elif p.kind in ACT_TO_KEY and src.kind in FUSE_ACT_INTO and not src.params.get("activation"):
                        src.params["activation"] = p.kind
                    else:
                        continue
                    src.shape = p.shape
                    self.fold(key, src_key)  # type: ignore[arg-type]
                    changed = True
                    break
                # materialize's n-input merge, traced as a chain of 2-input ones
                if self.materialized and p.kind in ("add", "mul") and p.inputs and p.inputs[0] in self.protos:
                    first = self.protos[p.inputs[0]]
                    if (
                        first.kind == p.kind
                        and users.get(p.inputs[0]) == [key]
                        and self.foldable(first, p)
                        and not first.params.get("activation")
                    ):
                        p.inputs = first.inputs + p.inputs[1:]
                        del self.protos[[k for k, v in self.protos.items() if v is first][0]]
                        changed = True
                        break
                # materialize's own reshape of a merge input (the spec broadcasts from the left)
                if (
                    self.materialized
                    and p.kind == "reshape"
                    and len(u) == 1
                    and u[0] in self.protos
                    and self.protos[u[0]].kind in ("add", "mul")
                    and self.foldable(p, self.protos[u[0]])
                ):
                    self.fold(key, p.inputs[0])
                    changed = True
                    break
                # a flatten that only feeds an fc (maybe through dropout): fc flattens by itself
                if (
                    p.kind == "flatten"
                    and self.feeds_fc(key, users)
                    and (not self.materialized or self.foldable(p, self.protos[users[key][0]]))
                ):
                    self.fold(key, p.inputs[0])
                    changed = True
                    break
        for p in self.protos.values():
            if p.kind in ("untied_bias", "crop"):
                raise ImportFailure(f"'{p.name}': a {p.kind.replace('_', ' ')} that follows no layer it can belong to")

    # -- output -----------------------------------------------------------------------

    def emit(self) -> ImportResult:
        spec_names: dict[str, str] = getattr(self.model, "spec_names", {}) if self.materialized else {}
        return write_spec(
            self.protos,
            self.outputs,
            self.name,
            self.input_shape,
            spec_names,
            self.unsupported,
            self.notes,
            blocks=self.blocks and not self.materialized,
        )


def import_module(
    model: nn.Module, input_shape: tuple[int, ...], name: str | None = None, blocks: bool = True
) -> ImportResult:
    """Trace ``model`` (one input of per-sample shape ``input_shape``) into a spec."""
    if not isinstance(model, nn.Module):
        raise ImportFailure(f"expected a torch.nn.Module, got {type(model).__name__}")
    nm = name or (model.model_name if isinstance(model, Materialized) else type(model).__name__)
    was_training = model.training
    model.eval()
    try:
        return _Importer(model, input_shape, nm, blocks).run()
    finally:
        model.train(was_training)


def load_callable(target: str) -> Any:
    """'package.module:callable' or 'path/to/file.py:callable' -> the object it names
    (called with no arguments when it is not already a module)."""
    import importlib
    import importlib.util
    import os
    import sys

    if ":" not in target:
        raise ImportFailure(f"{target!r}: write MODULE:CALLABLE, e.g. torchvision.models:resnet18 or mymodels.py:Net")
    mod_name, _, attr = target.rpartition(":")
    if mod_name.endswith(".py") or os.sep in mod_name:
        if not os.path.exists(mod_name):
            raise ImportFailure(f"{mod_name}: no such file")
        spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(mod_name))[0], mod_name)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as exc:
            raise ImportFailure(f"cannot import {mod_name!r}: {exc}") from None
    obj: Any = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ImportFailure(f"{mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if isinstance(obj, nn.Module):
        return obj
    if callable(obj):
        with torch.device("meta"):
            # built on the meta device: importing needs the structure, not the weights
            made = obj()
        if not isinstance(made, nn.Module):
            raise ImportFailure(f"{target} returned {type(made).__name__}, not a torch.nn.Module")
        return made
    raise ImportFailure(f"{target} is neither a torch.nn.Module nor a callable that builds one")

"""Activations: the one table of activation names, their FLOPs per element
and their torch forms, and one layer kind per name.

The same table serves an activation written as its own layer
(``type: relu``) and one fused into a layer (``activation: relu``): the
checker of the ``activation`` key, the fused FLOPs, the torch module that
materialize builds and the torch modules, functions and methods the importer
maps back all read it.
"""

from __future__ import annotations

from math import prod
from typing import Any

from cnnsize.engine.errors import RuleError
from cnnsize.engine.registry import (
    Key,
    Missing,
    OnnxMap,
    Result,
    Shape,
    Tensor,
    TorchMap,
    add_alias,
    call_args,
    ops_of,
    register,
)


class Activation:
    __slots__ = ("cost", "module", "over_channels", "functions", "methods", "alias_of", "onnx")

    def __init__(
        self,
        cost: int,
        module: str,
        functions: tuple[str, ...] = (),
        methods: tuple[str, ...] = (),
        over_channels: bool = False,
        alias_of: str = "",
        onnx: tuple[str, ...] = (),
    ) -> None:
        self.cost = cost  # cnnsize's FLOPs per element (docs/conventions.md; presets reweight "act")
        self.module = module  # torch.nn class name
        self.functions = functions  # dotted names of the torch functions that compute it
        self.methods = methods  # Tensor methods that compute it
        self.over_channels = over_channels  # softmax: over the channel axis, as the analysis counts it
        self.alias_of = alias_of  # as a layer type, another spelling of this kind
        self.onnx = onnx  # ONNX operator types that compute it


_F = "torch.nn.functional."

# cnnsize's FLOPs per element for each activation (a definition, documented in
# docs/conventions.md; peers disagree, presets reweight the "act" category).
ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(1, "ReLU", (_F + "relu", "torch.relu"), ("relu",), onnx=("Relu",)),
    # ONNX Clip: relu6 for [0, 6], relu for [0, inf) (one converter decides)
    "relu6": Activation(2, "ReLU6", (_F + "relu6",), onnx=("Clip",)),
    "leakyrelu": Activation(2, "LeakyReLU", (_F + "leaky_relu",), onnx=("LeakyRelu",)),
    "elu": Activation(3, "ELU", (_F + "elu",), onnx=("Elu",)),
    "sigmoid": Activation(4, "Sigmoid", ("torch.sigmoid", _F + "sigmoid"), ("sigmoid",), onnx=("Sigmoid",)),
    "tanh": Activation(5, "Tanh", ("torch.tanh", _F + "tanh"), ("tanh",), onnx=("Tanh",)),
    "gelu": Activation(8, "GELU", (_F + "gelu",), onnx=("Gelu",)),
    "silu": Activation(5, "SiLU", (_F + "silu",)),
    "swish": Activation(5, "SiLU", alias_of="silu"),
    "hardswish": Activation(5, "Hardswish", (_F + "hardswish",), onnx=("HardSwish",)),
    "hardsigmoid": Activation(3, "Hardsigmoid", (_F + "hardsigmoid",), onnx=("HardSigmoid",)),
    "softplus": Activation(3, "Softplus", (_F + "softplus",), onnx=("Softplus",)),
    "softmax": Activation(
        3, "Softmax", (_F + "softmax", "torch.softmax"), ("softmax",), over_channels=True, onnx=("Softmax",)
    ),
    "logsoftmax": Activation(
        3,
        "LogSoftmax",
        (_F + "log_softmax", "torch.log_softmax"),
        ("log_softmax",),
        over_channels=True,
        onnx=("LogSoftmax",),
    ),
}


def t_activation(v: Any, key: str) -> Any:
    if type(v) is str and v in ACTIVATIONS:
        return v
    if v is None or v == "none" or v is False:
        return None
    if not isinstance(v, str):
        raise RuleError(
            "bad-type",
            f"'{key}' must be the name of one activation, got {v!r}",
            f"e.g. activation: relu; known: {', '.join(ACTIVATIONS)}",
            key,
        )
    from cnnsize.engine.errors import did_you_mean

    raise RuleError(
        "unknown-activation",
        f"unknown activation {v!r}",
        did_you_mean(str(v), ACTIVATIONS) or f"use one of: {', '.join(ACTIVATIONS)}",
        key,
    )


ACT = {
    "activation": Key(
        t_activation,
        "activation fused into this layer (its FLOPs are added to this row); 'none' turns a default off",
    )
}


def fuse_act(p: dict[str, Any], units: int, ops: dict[str, int], counts: dict[str, int]) -> None:
    """A fused activation's FLOPs (category "act") and element count
    ("act.<name>", which presets weight), added to a rule's own."""
    a = p.get("activation")
    if a:
        if units:
            ops["act"] = ACTIVATIONS[a].cost * units
        counts[f"act.{a}"] = units


# --- one layer kind per activation ---------------------------------------------------


def _over_channels(dim: Any, src: Shape | None) -> bool:
    if dim is None or src is None:
        return False
    return bool(dim == 1 or (len(src) == 1 and dim == -1))


def _converter(name: str) -> Any:
    over = ACTIVATIONS[name].over_channels

    def convert(imp: Any, node: Any, target: Any) -> None:
        if node.op == "call_method":  # x.softmax(dim)
            dim, what = call_args(node, ("self", "dim")).get("dim"), f"Tensor.{target} not over channels"
        elif node.op == "call_function":  # F.softmax(x, dim)
            dim = call_args(node, ("input", "dim")).get("dim")
            what = f"{getattr(target, '__name__', target)} not over channels"
        else:
            if type(target).__name__ == "Hardtanh" and (target.min_val, target.max_val) != (0.0, 6.0):
                imp.unsupported_node(node, f"module {type(target).__module__}.Hardtanh '{node.target}'")
                return
            dim = getattr(target, "dim", None)
            what = f"{type(target).__name__}(dim={dim}) (cnnsize's softmax is over channels)"
        if over and not _over_channels(dim, imp.src_shape(node)):
            imp.unsupported_node(node, what)
            return
        imp.add(node, name, {})

    return convert


_ONNX_DOC = {
    "relu6": (
        "Clip with min 0 and max 6 (attributes or constant inputs); Clip with min 0 and no max is a relu; other bounds "
        "refused"
    ),
    "softmax": (
        "axis 1, or -1 on a 2-D input (cnnsize's softmax is over channels); opset < 13 coerces to 2-D: only 2-D inputs"
    ),
    "logsoftmax": "as Softmax",
    "leakyrelu": "alpha changes no count",
    "elu": "alpha changes no count",
    "hardsigmoid": "alpha and beta change no count",
    "gelu": "approximate changes no count (cnnsize counts 8 FLOPs per element); the importer also reads the exact "
    "GELU as exporters before opset 20 decompose it (Div by sqrt 2, Erf, Add 1, Mul by x, Mul by 0.5) as one gelu",
}


def _onnx_converter(name: str) -> Any:
    over = ACTIVATIONS[name].over_channels

    def convert(imp: Any, node: Any) -> None:
        src = imp.in_shape(node)
        if node.op_type == "Clip":
            lo = imp.attr(node, "min")
            hi = imp.attr(node, "max")
            if len(node.input) > 1 and node.input[1]:
                v = imp.const_value(node.input[1])
                lo = v[0] if v else "?"
            if len(node.input) > 2 and node.input[2]:
                v = imp.const_value(node.input[2])
                hi = v[0] if v else "?"
            if lo == 0 and hi == 6:
                imp.add(node, "relu6", {}, [node.input[0]])
            elif lo == 0 and hi is None:
                imp.add(node, "relu", {}, [node.input[0]])
            else:
                imp.unsupported(node, f"to [{lo}, {hi}] (cnnsize has relu6 [0, 6] and relu [0, inf))")
            return
        if over:
            opset_default = -1 if imp.opset >= 13 else 1
            axis = int(imp.attr(node, "axis", opset_default))
            rank = len(src) + 1 if src is not None else 0
            if src is None or (axis + rank if axis < 0 else axis) != 1 or (imp.opset < 13 and rank != 2):
                imp.unsupported(node, f"over axis {axis} (cnnsize's {name} is over channels, axis 1)")
                return
        imp.add(node, name, {}, [node.input[0]])

    return convert


def _to_torch(name: str) -> Any:
    def build(p: dict[str, Any], in_shapes: list[Shape], out: Shape, t: Any) -> Any:
        Layer = t.Layer

        return Layer(t.torch_activation(name))

    return build


def _rule(name: str, cost: int) -> Any:
    def act(p: dict[str, Any], ins: list[Tensor]) -> Result:
        x = ins[0]
        units = prod(x.shape)
        return Result(
            x.shape,
            ops=ops_of(act=cost * units),
            connections=units * (x.shape[0] if ACTIVATIONS[name].over_channels else 1),
            rf=x.rf,
            counts={f"act.{name}": units},
        )

    return act


for _name, _a in ACTIVATIONS.items():
    if _a.alias_of:
        continue
    _modules = ("torch.nn." + _a.module,) + (("torch.nn.Hardtanh",) if _name == "relu6" else ())
    register(
        _name,
        {},
        category="activation",
        summary=f"{_name} activation ({_a.cost} FLOP{'s' if _a.cost > 1 else ''} per element)",
        to_torch=_to_torch(_name),
        from_torch=(TorchMap(_converter(_name), _modules, _a.functions, _a.methods),),
        from_onnx=(OnnxMap(_onnx_converter(_name), _a.onnx, _ONNX_DOC.get(_name, "no attribute changes the count")),)
        if _a.onnx
        else Missing("exporters write SiLU as Sigmoid and Mul (read as a sigmoid and a mul layer)"),
        pointwise=not _a.over_channels,
    )(_rule(_name, _a.cost))
for _name, _a in ACTIVATIONS.items():
    if _a.alias_of:
        add_alias(_name, _a.alias_of)

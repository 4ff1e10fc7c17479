"""An ONNX model to a cnnsize spec, through the layer registry.

Each node of the graph is looked up by operator type in the ``from_onnx``
mappings of the registry (:class:`cnnsize.engine.registry.OnnxMap`, declared
beside each kind's rule); the mapping reads the node's attributes and constant
inputs through :class:`_Importer` and adds one spec layer. Nodes whose inputs
are all constants (initializers, ``Constant``, ``Shape`` of a tensor) compute
shapes or weights, not activations: they are folded, not layers.

Shapes come from ``onnx.shape_inference.infer_shapes(data_prop=True)`` with the
graph input's symbolic batch set to 1 (specs are per sample; ``--batch`` is
applied by the analysis). Parameters are the initializers as stored: when the
exporter folded BatchNormalization into a Conv, the spec has the Conv's bias
and no batchnorm, and the spec's header says which layers were folded.

Every operator the registry does not know, and every known operator in a form
no kind expresses, is collected and reported together in one
:class:`OnnxImportError` (each with the node's name and operator type): the
importer never counts an unknown node as zero.

``onnx`` is imported here only, lazily; the analysis path imports neither
onnx nor torch.
"""

from __future__ import annotations

import os
from typing import Any

from cnnsize.engine.kinds import RULES
from cnnsize.onnx.reading import (
    ImportResult,
    Layer,
    OnnxImportError,
    Problem,
    _bn_module,
    _dims,
    _layer_base,
    _onnx,
    onnx_table,
    ops_markdown,
    read_model,
)

# ops whose output depends only on the shape of their input, never its values
SHAPE_ONLY = frozenset({"Shape", "Size"})
# small constant tensors whose values a converter may read (axes, pads, scales)
MAX_CONST_VALUES = 4096


class _Importer:
    """The state of one import; converters call :meth:`add`, :meth:`alias`,
    :meth:`unsupported` and read the node through the accessors."""

    def __init__(self, path: str, model: Any, input_shape: tuple[int, ...] | None, name: str | None) -> None:
        self.path = path
        self.model = model
        self.graph = model.graph
        self.name = name or model.graph.name or os.path.splitext(os.path.basename(path))[0]
        self.requested = input_shape
        self.opset = next((int(i.version) for i in model.opset_import if i.domain in ("", "ai.onnx")), 1)
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.folded: list[str] = []
        self.layers: list[Layer] = []
        self.tensor_layer: dict[str, str] = {}  # tensor name -> layer name (graph input: "input")
        self.used: set[str] = {"input"}
        self.static: set[str] = set()  # tensors that are constants or shape computations
        self.const_dims: dict[str, tuple[int, ...]] = {}
        self.const_proto: dict[str, Any] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}  # full shapes, batch included
        self.n_static = 0
        self._readers: dict[str, int] = {}
        self.input_shape: tuple[int, ...] = ()
        self.node: Any = None
        self.node_name = ""
        self.layer_base = ""  # the spec layer's name for the current node (diagnostics name the node)

    # -- problems ------------------------------------------------------------------

    def _fail(self, code: str, message: str, hint: str = "") -> None:
        self.problems.append(
            Problem(code, message, hint, self.node_name or None, self.node.op_type if self.node else None)
        )

    def unsupported(self, node: Any, why: str, hint: str = "") -> None:
        """A known operator in a form no kind expresses (reported with the rest)."""
        self._fail("onnx-unsupported", f"{node.op_type} {why}", hint)

    # -- accessors for converters ----------------------------------------------------

    def attr(self, node: Any, name: str, default: Any = None) -> Any:
        onnx = _onnx()
        for a in node.attribute:
            if a.name == name:
                v = onnx.helper.get_attribute_value(a)
                if isinstance(v, bytes):
                    return v.decode()
                if isinstance(v, list):
                    return [x.decode() if isinstance(x, bytes) else x for x in v]
                return v
        return default

    def is_const(self, tensor: str) -> bool:
        return tensor in self.static

    def const_shape(self, tensor: str) -> tuple[int, ...] | None:
        """Dims of a constant (initializer or Constant output); None otherwise."""
        return self.const_dims.get(tensor)

    def const_value(self, tensor: str) -> list[Any] | None:
        """A small constant's values as a flat list (axes, pads, scales, clip
        bounds); None when not a constant or too large."""
        proto = self.const_proto.get(tensor)
        if proto is None:
            return None
        dims = self.const_dims.get(tensor, ())
        n = 1
        for d in dims:
            n *= d
        if n > MAX_CONST_VALUES:
            return None
        try:
            from onnx import external_data_helper, numpy_helper

            if external_data_helper.uses_external_data(proto):
                # a small constant stored beside the model: read just it (a
                # missing data file leaves the value unknown)
                copy = type(proto)()
                copy.CopyFrom(proto)
                external_data_helper.load_external_data_for_tensor(copy, os.path.dirname(os.path.abspath(self.path)))
                proto = copy
            return [x.item() for x in numpy_helper.to_array(proto).reshape(-1)]
        except Exception:  # noqa: BLE001 - external data not present, an odd dtype
            return None

    def shape(self, tensor: str) -> tuple[int, ...] | None:
        """Per-sample shape (batch axis dropped) of an activation tensor."""
        s = self.shapes.get(tensor)
        return s[1:] if s is not None and len(s) >= 1 else None

    def in_shape(self, node: Any) -> tuple[int, ...] | None:
        return self.shape(node.input[0]) if node.input else None

    def activations(self, node: Any) -> list[str]:
        """The node's inputs that are activations (not constants)."""
        return [i for i in node.input if i and i not in self.static]

    # -- building --------------------------------------------------------------------

    def _layer_name(self, base: str) -> str:
        base = "".join("_" if c.isspace() else c for c in base) or "layer"
        nm, k = base, 2
        while nm in self.used:
            nm, k = f"{base}_{k}", k + 1
        self.used.add(nm)
        return nm

    def add(
        self,
        node: Any,
        kind: str,
        params: dict[str, Any],
        inputs: list[str] | None = None,
        note: str = "",
        then: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        """One spec layer for ``node`` (inputs: tensor names, default the
        node's activation inputs); ``then`` a second layer after it (a
        globalavgpool without keepdims: then a flatten)."""
        ins = self.activations(node) if inputs is None else inputs
        self.add_layer(node, kind, params, [self.tensor_layer[i] for i in ins], note, then)
        if ins:
            self.layers[-1 if then is None else -2].src_shape = self.shape(ins[0])

    def add_layer(
        self,
        node: Any,
        kind: str,
        params: dict[str, Any],
        srcs: list[str],
        note: str = "",
        then: tuple[str, dict[str, Any]] | None = None,
        check_shape: bool = True,
    ) -> None:
        """:meth:`add` with the inputs given as layer names."""
        out = node.output[0]
        full = self.shape(out) if check_shape else None
        nm = self._layer_name(self.layer_base)
        self.layers.append(Layer(nm, kind, params, srcs, note, None if then else full, self.node_name, node.op_type))
        if then is not None:
            nm2 = self._layer_name(f"{self.layer_base}_{then[0]}")
            self.layers.append(Layer(nm2, then[0], then[1], [nm], "", full, self.node_name, node.op_type))
            nm = nm2
        self.tensor_layer[out] = nm

    def producer(self, tensor: str) -> Layer | None:
        """The layer whose output ``tensor`` is (None for the input or a constant)."""
        nm = self.tensor_layer.get(tensor)
        return next((ly for ly in reversed(self.layers) if ly.name == nm), None)

    def readers(self, tensor: str) -> int:
        """How many node inputs and graph outputs read ``tensor``."""
        if not self._readers:
            for n in self.graph.node:
                for i in n.input:
                    self._readers[i] = self._readers.get(i, 0) + 1
            for o in self.graph.output:
                self._readers[o.name] = self._readers.get(o.name, 0) + 1
        return self._readers.get(tensor, 0)

    def drop(self, layer: Layer) -> None:
        """Take back a layer that a later node absorbs (a channel shuffle's first Reshape)."""
        self.layers.remove(layer)
        self.used.discard(layer.name)

    def alias(self, node: Any, tensor: str | None = None) -> None:
        """The node's output is its (first activation) input's value."""
        src = tensor if tensor is not None else self.activations(node)[0]
        self.tensor_layer[node.output[0]] = self.tensor_layer[src]

    def fold_bias(self, node: Any, act: str) -> bool:
        """``act + constant`` where ``act`` is a bias-free fc read from a
        MatMul and the constant one value per unit: that fc's bias (torch's
        Linear on more than 2-D exports as MatMul then Add)."""
        const = next((i for i in node.input if i and i != act), "")
        layer = next((ly for ly in reversed(self.layers) if ly.name == self.tensor_layer.get(act)), None)
        if layer is None or layer.kind != "fc" or layer.params.get("bias") or layer.op != "MatMul":
            return False
        if self.const_shape(const) not in ((layer.params["units"],), (1, layer.params["units"])):
            return False
        if self.readers(act) != 1:
            return False  # the MatMul's output is read elsewhere too: not a bias
        layer.params["bias"] = True
        self.tensor_layer[node.output[0]] = layer.name
        layer.shape = self.shape(node.output[0])
        return True

    def folded_bn(self, node: Any) -> bool:
        """Whether the exporter folded a BatchNormalization into this node.

        The dynamo exporter's optimizer says so in the node's metadata
        (``FuseBatchNormIntoConv``); torch's legacy exporter leaves no trace
        but names the weights it computed ``onnx::Conv_N`` instead of the
        module's parameter name."""
        for p in node.metadata_props:
            if p.key == "pkg.onnxscript.rewriter.rule_name" and "BatchNorm" in p.value:
                return True
        return len(node.input) > 1 and node.input[1].startswith("onnx::")

    def mark_folded(self, node_proto: Any) -> None:
        if self.folded_bn(node_proto):
            parts = [] if self.layer_base == self.node_name else [f"node {self.node_name}"]
            bn = _bn_module(node_proto)
            if bn:
                parts.append(f"BatchNorm {bn}")
            self.folded.append(self.layer_base + (f" ({', '.join(parts)})" if parts else ""))

    # -- the walk --------------------------------------------------------------------

    def run(self) -> ImportResult:
        g = self.graph
        for t in g.initializer:
            self.static.add(t.name)
            self.const_dims[t.name] = tuple(int(d) for d in t.dims)
            self.const_proto[t.name] = t
        inputs = [i for i in g.input if i.name not in self.static]
        if len(inputs) != 1:
            self.node_name = ""
            self._fail(
                "onnx-inputs",
                f"the graph takes {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); cnnsize specs have one",
            )
            raise OnnxImportError(self.path, self.problems)
        self._set_input(inputs[0])
        self._infer()
        self.tensor_layer[inputs[0].name] = "input"
        table = onnx_table()
        for node in g.node:
            if node.op_type == "Constant":
                self._fold_static(node)  # every constant's value known before the patterns are matched
        absorbed, gelu_at = self._gelu_patterns()
        for idx, node in enumerate(g.node):
            self.node = node
            self.node_name = node.name or f"{node.op_type}_{idx}"
            self.layer_base = _layer_base(node, self.node_name)
            if node.op_type == "Constant" or idx in absorbed:
                continue
            if idx in gelu_at:
                self.add(node, "gelu", {}, [gelu_at[idx]], note="ONNX Div, Erf, Add, Mul, Mul: the exact GELU")
                continue
            if self._fold_static(node):
                continue
            convert = table.get(node.op_type) if node.domain in ("", "ai.onnx") else None
            if convert is None:
                dom = f"{node.domain}::" if node.domain not in ("", "ai.onnx") else ""
                self._fail(
                    "onnx-unknown-op",
                    f"operator {dom}{node.op_type} is not in the layer registry",
                    "docs/import.md lists the operators cnnsize reads",
                )
                self._poison(node)
                continue
            before = len(self.problems)
            convert(self, node)
            if len(self.problems) > before or node.output[0] not in self.tensor_layer:
                self._poison(node)
        self.node, self.node_name = None, ""
        if self.problems:
            raise OnnxImportError(self.path, self.problems)
        return self._emit()

    def _gelu_patterns(self) -> tuple[set[int], dict[int, str]]:
        """The exact GELU as exporters decompose it, x * (1 + erf(x / sqrt 2)) * 0.5:
        Div, Erf, Add, Mul, Mul read as one gelu layer. Returns the indices of
        the nodes it absorbs and, for each last Mul, the tensor x."""
        nodes = list(self.graph.node)
        by_out = {o: i for i, n in enumerate(nodes) for o in n.output}
        readers: dict[str, list[int]] = {}
        for i, n in enumerate(nodes):
            for t in n.input:
                readers.setdefault(t, []).append(i)

        def const_is(t: str, v: float) -> bool:
            vals = self.const_value(t) if t in self.const_proto else None
            return vals is not None and len(vals) == 1 and abs(float(vals[0]) - v) < 1e-3

        def sole(t: str, op: str) -> int | None:
            r = readers.get(t, [])
            return r[0] if len(r) == 1 and nodes[r[0]].op_type == op and t not in self._outputs() else None

        absorbed: set[int] = set()
        gelu_at: dict[int, str] = {}
        for ie, erf in enumerate(nodes):
            if erf.op_type != "Erf" or erf.input[0] not in by_out:
                continue
            idiv = by_out[erf.input[0]]
            div = nodes[idiv]
            if div.op_type != "Div" or not const_is(div.input[1], 2**0.5) or sole(div.output[0], "Erf") != ie:
                continue
            x = div.input[0]
            iadd = sole(erf.output[0], "Add")
            if iadd is None or not any(const_is(t, 1.0) for t in nodes[iadd].input if t != erf.output[0]):
                continue
            # then a Mul by x and a Mul by 0.5, in either order
            imul = sole(nodes[iadd].output[0], "Mul")
            ilast = sole(nodes[imul].output[0], "Mul") if imul is not None else None
            if imul is None or ilast is None:
                continue
            first = [t for t in nodes[imul].input if t != nodes[iadd].output[0]]
            second = [t for t in nodes[ilast].input if t != nodes[imul].output[0]]
            if len(first) != 1 or len(second) != 1:
                continue
            if not ((first[0] == x and const_is(second[0], 0.5)) or (second[0] == x and const_is(first[0], 0.5))):
                continue
            absorbed.update((idiv, ie, iadd, imul))
            gelu_at[ilast] = x
        return absorbed, gelu_at

    def _outputs(self) -> set[str]:
        return {o.name for o in self.graph.output}

    def _poison(self, node: Any) -> None:
        # later nodes still convert (every unknown op is reported in one run)
        for o in node.output:
            self.tensor_layer.setdefault(o, "input")

    def _fold_static(self, node: Any) -> bool:
        onnx = _onnx()
        if node.op_type == "Constant":
            out = node.output[0]
            self.static.add(out)
            for a in node.attribute:
                if a.name == "value":
                    self.const_dims[out] = tuple(int(d) for d in a.t.dims)
                    self.const_proto[out] = a.t
                elif a.name in ("value_float", "value_int"):
                    self.const_dims[out] = ()
                    self.const_proto[out] = onnx.helper.make_tensor(
                        out,
                        onnx.TensorProto.FLOAT if a.name == "value_float" else onnx.TensorProto.INT64,
                        [],
                        [onnx.helper.get_attribute_value(a)],
                    )
                elif a.name in ("value_floats", "value_ints"):
                    vals = list(onnx.helper.get_attribute_value(a))
                    self.const_dims[out] = (len(vals),)
                    self.const_proto[out] = onnx.helper.make_tensor(
                        out,
                        onnx.TensorProto.FLOAT if a.name == "value_floats" else onnx.TensorProto.INT64,
                        [len(vals)],
                        vals,
                    )
            self.n_static += 1
            return True
        ins = [i for i in node.input if i]
        if node.op_type in SHAPE_ONLY or (ins and all(i in self.static for i in ins)):
            self.static.update(node.output)
            if node.op_type == "Identity" and ins[0] in self.const_proto:
                self.const_dims[node.output[0]] = self.const_dims[ins[0]]
                self.const_proto[node.output[0]] = self.const_proto[ins[0]]
            elif node.op_type == "Transpose" and ins[0] in self.const_dims:
                # a weight transposed at run time (torch's legacy exporter, Linear): its dims permuted
                dims = self.const_dims[ins[0]]
                perm = self.attr(node, "perm") or list(range(len(dims)))[::-1]
                self.const_dims[node.output[0]] = tuple(dims[int(i)] for i in perm)
            self.n_static += 1
            return True
        return False

    def _set_input(self, vi: Any) -> None:
        dims = _dims(vi.type)
        if dims is None or len(dims) < 2:
            self._fail("onnx-shape", f"graph input '{vi.name}' has no shape with a batch axis", "re-export with shapes")
            raise OnnxImportError(self.path, self.problems)
        per = dims[1:]
        if self.requested is not None:
            if len(self.requested) != len(per):
                self._fail(
                    "onnx-shape",
                    f"--input has {len(self.requested)} sizes but the model's input '{vi.name}' has {len(per)} per "
                    "sample",
                    "give channels and the same number of spatial sizes",
                )
                raise OnnxImportError(self.path, self.problems)
            per = list(self.requested)
        elif any(not isinstance(d, int) or d <= 0 for d in per):
            self._fail(
                "onnx-shape",
                f"graph input '{vi.name}' has symbolic sizes {dims[1:]}",
                "give the input size with --input, e.g. --input 3x224x224",
            )
            raise OnnxImportError(self.path, self.problems)
        # the batch axis: 1 (specs are per sample); --batch applies in the analysis
        shape = [1, *per]
        dim = vi.type.tensor_type.shape.dim
        for d, v in zip(dim, shape):
            d.dim_value = int(v)  # clears a dim_param
        self.input_shape = tuple(int(v) for v in per)

    def _infer(self) -> None:
        onnx = _onnx()
        g = self.graph
        # the exporter's recorded shapes would fight a new --input: infer afresh
        del g.value_info[:]
        if self.requested is not None:
            for o in g.output:
                o.type.tensor_type.ClearField("shape")
        try:
            inferred = onnx.shape_inference.infer_shapes(self.model, data_prop=True)
        except Exception as exc:  # noqa: BLE001 - InferenceError and protobuf errors
            # an unknown operator stops inference: the walk still runs, so
            # that every unknown node is reported (nodes needing a shape
            # downstream report that, too)
            self.notes.append(f"ONNX shape inference failed: {str(exc).strip().splitlines()[-1][:300]}")
            inferred = self.model
        ig = inferred.graph
        for vi in (*ig.input, *ig.value_info, *ig.output):
            dims = _dims(vi.type)
            if dims is not None and all(isinstance(d, int) for d in dims):
                self.shapes[vi.name] = tuple(dims)

    # -- emitting --------------------------------------------------------------------

    def _emit(self) -> ImportResult:
        import yaml

        outputs = []
        for o in self.graph.output:
            if o.name in self.static:
                continue
            outputs.append(self.tensor_layer[o.name])
        prev = "input"
        body = []
        for ly in self.layers:
            d: dict[str, Any] = {"name": ly.name, "type": ly.kind, **non_default(ly.kind, ly.params)}
            if ly.inputs != [prev]:
                d["inputs"] = ly.inputs
            if ly.note:
                d["note"] = ly.note
            body.append("  - " + yaml.safe_dump(d, default_flow_style=True, sort_keys=False, width=10**6).strip())
            prev = ly.name
        onnx = _onnx()
        producer = f"{self.model.producer_name} {self.model.producer_version}".strip() or "unknown producer"
        opset = next((i.version for i in self.model.opset_import if i.domain in ("", "ai.onnx")), 0)
        source = (
            f"imported from ONNX by `cnnsize import onnx` ({os.path.basename(self.path)}, {producer}, opset {opset}, "
            f"onnx {onnx.__version__})"
        )
        head = [f"# Imported from {os.path.basename(self.path)} with `cnnsize import onnx`."]
        head.append("# Parameters are the initializers as stored in the file.")
        if self.folded:
            head.append(
                f"# BatchNormalization was folded at export into {len(self.folded)} layer(s): their weights and"
            )
            head.append("# bias absorb BN's scale and shift (an all-zero bias is dropped); BN's own parameters and")
            head.append("# running statistics are not in the file, so they are not counted:")
            head += [f"#   - {f}" for f in self.folded]
        if self.n_static:
            head.append(f"# {self.n_static} node(s) computing only constants or shapes folded (not layers).")
        for n in self.notes:
            head.append(f"# Note: {n}")
        lines = [
            "cnnsize: 1",
            "name: " + yaml.safe_dump(self.name, width=10**6).splitlines()[0],
            "source: " + yaml.safe_dump(source, width=10**6).splitlines()[0],
            f"input: {list(self.input_shape)}",
            "layers:",
            *body,
        ]
        if outputs != [prev]:
            lines.append("outputs: " + yaml.safe_dump(outputs, default_flow_style=True, width=10**6).strip())
        text = "\n".join(head + lines) + "\n"
        return ImportResult(text, self.layers, self.notes, self.folded, self.n_static)


def non_default(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Leave out keys at their rule's default (pool strides equal to the kernel too)."""
    keys = RULES[kind].keys
    out = {}
    for k, v in params.items():
        if k in keys and not keys[k].required:
            if v == keys[k].default or (k == "stride" and keys[k].default is None and v == params.get("kernel")):
                continue
        out[k] = v
    return out


def check_shapes(path: str, res: ImportResult, spec_analysis: Any) -> None:
    """Every layer's analysed output shape equals ONNX's inferred one: the
    spec computes what the file computes (a mismatch is an importer bug or a
    form the mapping misread, reported at the node)."""
    rows = {r.name: r for r in spec_analysis.layers}
    problems = []
    for ly in res.layers:
        r = rows.get(ly.name)
        if r is None or ly.shape is None:
            continue
        got = tuple(r.output_shape)
        if got != ly.shape:
            code = "onnx-shape-mismatch"
            problems.append(
                Problem(
                    code,
                    f"the spec layer '{ly.name}' ({ly.kind}) gives shape {list(got)} where ONNX infers "
                    f"{list(ly.shape)}",
                    "a form of this operator the importer does not read correctly; please report it",
                    ly.node,
                    ly.op,
                )
            )
    if problems:
        raise OnnxImportError(path, problems)


def import_onnx(path: str, input_shape: tuple[int, ...] | None = None, name: str | None = None) -> ImportResult:
    """The spec of the ONNX model at ``path``; raises OnnxImportError."""
    model = read_model(path)
    res = _Importer(path, model, input_shape, name).run()
    from cnnsize.engine.analysis import analyze
    from cnnsize.engine.errors import SpecError
    from cnnsize.engine.load import loads_spec

    try:
        a = analyze(loads_spec(res.yaml, path))
    except SpecError as exc:
        # the emitted spec does not analyse: report the engine's diagnostics
        # at the nodes they came from
        by_layer = {ly.name: ly for ly in res.layers}
        probs = []
        for d in exc.diagnostics:
            ly = by_layer.get(d.layer or "")
            probs.append(Problem(d.code, d.message, d.hint, ly.node if ly else d.layer, ly.op if ly else d.kind))
        raise OnnxImportError(path, probs) from None
    check_shapes(path, res, a)
    return res


if __name__ == "__main__":  # python -m cnnsize.onnx.importer --ops-md
    import sys

    if sys.argv[1:] != ["--ops-md"]:
        raise SystemExit("usage: python -m cnnsize.onnx.importer --ops-md")
    sys.stdout.write(ops_markdown())

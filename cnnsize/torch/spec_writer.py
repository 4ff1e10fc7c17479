"""The spec an import writes: the traced layers (``Proto``) to a spec dict
and its commented YAML text, with repeated module instances turned into
blocks when that expands to exactly the same layers.

Separate from the fx walk (:mod:`cnnsize.torch.importer`) so that what the
YAML looks like is read and changed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from cnnsize.engine.kinds import RULES


@dataclass
class Proto:
    name: str
    kind: str
    params: dict[str, Any]
    inputs: list[str]  # fx node names (resolved to layer names at the end)
    shape: tuple[int, ...]  # per sample
    owner: str | None
    note: str = ""
    pad_value: float | None = None  # for pad layers: the constant, to know what they may fold into
    custom: list[tuple[str, str]] = field(default_factory=list)  # user-defined modules it ran in, outermost first
    instance: str | None = None  # the block candidate chosen among them
    iclass: str = ""


@dataclass
class ImportResult:
    spec: dict[str, Any]
    yaml: str
    unsupported: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def write_spec(
    protos: dict[str, Proto],
    outputs_: list[str],
    name: str,
    input_shape: tuple[int, ...],
    spec_names: dict[str, str],
    unsupported: list[str],
    notes: list[str],
    blocks: bool,
) -> ImportResult:
    """The spec (as a dict and as commented YAML text) of the traced layers
    ``protos`` (by fx node name) whose values ``outputs_`` the model returns.
    Layers are named after ``spec_names[owner]`` where a materialized model
    says what its modules were called; with ``blocks``, repeated module
    instances become blocks when that expands to exactly the flat spec."""
    import yaml

    names: dict[str, str] = {"input": "input"}
    used: set[str] = {"input"}
    layers = []
    for key, p in protos.items():
        base: str = spec_names.get(p.owner, p.name) if p.owner is not None else p.name
        nm, k = base, 2
        while nm in used:
            nm, k = f"{base}_{k}", k + 1
        used.add(nm)
        names[key] = nm
        layers.append((key, nm, p))
    out_layers = []
    prev = "input"
    for _key, nm, p in layers:
        d: dict[str, Any] = {"name": nm, "type": p.kind, **non_default(p.kind, p.params)}
        ins = [names[i] for i in p.inputs]
        if ins != [prev]:
            d["inputs"] = ins
        if p.note:
            d["note"] = p.note
        out_layers.append(d)
        prev = nm
    outputs = [names[o] for o in outputs_]
    spec: dict[str, Any] = {
        "cnnsize": 1,
        "name": name,
        "source": f"imported from torch by `cnnsize import torch` (torch.fx, torch {torch.__version__})",
        "input": list(input_shape),
        "layers": out_layers,
    }
    if outputs != [prev]:
        spec["outputs"] = outputs
    head = [f"# Imported from {name} with `cnnsize import torch` (torch.fx symbolic trace)."]
    if unsupported:
        head.append("# NOT EXPRESSED (stand-ins with a note: below; the figures of these nodes are missing):")
        head += [f"#   - {u}" for u in unsupported]
    if notes:
        head.append("# Notes:")
        head += [f"#   - {n}" for n in notes]
    body = [
        "cnnsize: 1",
        "name: " + yaml.safe_dump(name, default_style=None).splitlines()[0].removesuffix("..."),
        "source: " + yaml.safe_dump(spec["source"], width=10**6).splitlines()[0],
        f"input: {list(input_shape)}",
        "layers:",
    ]
    for d in out_layers:
        body.append("  - " + yaml.safe_dump(d, default_flow_style=True, sort_keys=False, width=10**6).strip())
    if "outputs" in spec:
        body.append("outputs: " + yaml.safe_dump(outputs, default_flow_style=True, width=10**6).strip())
    text = "\n".join(head + body) + "\n"
    if blocks:
        blocked = _with_blocks(layers, names, outputs, head, body[:4])
        if blocked is not None:
            text = blocked
    return ImportResult(spec, text, list(unsupported), list(notes))


def _with_blocks(
    layers: list[tuple[str, str, Proto]],
    names: dict[str, str],
    outputs: list[str],
    head: list[str],
    top: list[str],
) -> str | None:
    """The same spec with one block per module class that occurs at least
    twice with the same structure (values that differ become arguments).
    Returns None when nothing repeats or the result would not expand to
    exactly the flat spec."""
    import json

    import yaml

    from cnnsize.engine.spec import INSTANCE_KEYS

    # the instance of a layer: the outermost user-defined module around it
    # whose class has at least two instances (a class used once, such as a
    # wrapper around the whole backbone, cannot be a block)
    per_class: dict[str, set[str]] = {}
    for _k, _nm, p in layers:
        for qual, cls in p.custom:
            per_class.setdefault(cls, set()).add(qual)
    for _k, _nm, p in layers:
        p.instance, p.iclass = None, ""
        for qual, cls in p.custom:
            if len(per_class[cls]) >= 2:
                p.instance, p.iclass = qual, cls
                break
    used_by: dict[str, list[str]] = {}
    for _k, nm, p in layers:
        for i in p.inputs:
            used_by.setdefault(names[i], []).append(nm)
    # runs of consecutive layers that ran inside the same module instance
    runs: list[tuple[str | None, str, list[tuple[str, Proto]]]] = []
    for _k, nm, p in layers:
        inst = p.instance if p.instance and nm.startswith(p.instance + ".") else None
        if runs and inst is not None and runs[-1][0] == inst:
            runs[-1][2].append((nm, p))
        else:
            runs.append((inst, p.iclass, [(nm, p)]))
    groups = []  # (run index, block input, signature, values)
    for ri, (inst, _cls, members) in enumerate(runs):
        if inst is None or len(members) < 2:
            continue
        mset = {nm for nm, _ in members}
        ext = {names[i] for _nm, p in members for i in p.inputs if names[i] not in mset}
        inner_used = any(u not in mset for nm, _ in members[:-1] for u in used_by.get(nm, [])) or any(
            nm in outputs for nm, _ in members[:-1]
        )
        locals_ = [nm[len(inst) + 1 :] for nm, _ in members]
        if len(ext) != 1 or inner_used or "input" in locals_:
            continue
        src = ext.pop()
        sig, vals = [], {}
        for (_nm, p), loc in zip(members, locals_):
            prm = non_default(p.kind, p.params)
            ins = tuple("input" if names[i] == src else names[i][len(inst) + 1 :] for i in p.inputs)
            sig.append((loc, p.kind, ins, tuple(prm), p.note))
            for k2, v in prm.items():
                vals[(loc, k2)] = v
        groups.append((ri, src, tuple(sig), vals))
    by_sig: dict[tuple[str, tuple[Any, ...]], list[int]] = {}
    for gi, (ri, _src, gsig, _vals) in enumerate(groups):
        by_sig.setdefault((runs[ri][1], gsig), []).append(gi)
    blocks: dict[str, dict[str, Any]] = {}
    instance_of: dict[int, tuple[str, dict[str, Any], str]] = {}  # run index -> (block, args, input)
    for (cls, gsig), gis in by_sig.items():
        if len(gis) < 2:
            continue
        keys = list(groups[gis[0]][3])
        varying = [k for k in keys if len({json.dumps(groups[g][3][k], sort_keys=True) for g in gis}) > 1]
        # values that vary together (conv1 and conv2 filters) share one argument
        together: dict[str, list[tuple[str, str]]] = {}
        for lk in varying:
            together.setdefault(json.dumps([groups[g][3][lk] for g in gis], sort_keys=True), []).append(lk)
        argname: dict[tuple[str, str], str] = {}
        taken: set[str] = set(INSTANCE_KEYS)
        for lks in together.values():
            keys_ = {key for _loc, key in lks}
            a = keys_.pop() if len(keys_) == 1 else f"{lks[0][0]}_{lks[0][1]}"
            a = "".join(ch if ch.isalnum() else "_" for ch in a)
            a = a if a[0].isalpha() else f"a_{a}"
            if a in taken:
                a = "".join(ch if ch.isalnum() else "_" for ch in f"{lks[0][0]}_{lks[0][1]}")
                a = a if a[0].isalpha() else f"a_{a}"
            while a in taken:
                a += "_"
            taken.add(a)
            for lk in lks:
                argname[lk] = a
        bname, k = cls or "block", 2
        while bname in blocks:
            bname, k = f"{cls}_{k}", k + 1
        body_layers = []
        prev_local = "input"
        for loc, kind, ins, prm_keys, note in gsig:
            d: dict[str, Any] = {"name": loc, "type": kind}
            for key in prm_keys:
                d[key] = f"${{{argname[(loc, key)]}}}" if (loc, key) in argname else groups[gis[0]][3][(loc, key)]
            if list(ins) != [prev_local]:
                d["inputs"] = list(ins)
            if note:
                d["note"] = note
            body_layers.append(d)
            prev_local = loc
        blocks[bname] = {"args": {a: None for a in dict.fromkeys(argname.values())}, "layers": body_layers}
        for g in gis:
            ri, src, _sig, vals = groups[g]
            instance_of[ri] = (bname, {a: vals[lk] for lk, a in argname.items()}, src)  # shared args: equal values
    if not blocks:
        return None
    lines = list(top)
    lines.append("blocks:")
    for bname, b in blocks.items():
        lines.append(f"  {yaml.safe_dump(bname, width=10**6).splitlines()[0]}:")
        if b["args"]:
            lines.append(
                "    args: " + yaml.safe_dump(b["args"], default_flow_style=True, sort_keys=False, width=10**6).strip()
            )
        lines.append("    layers:")
        for d in b["layers"]:
            lines.append("      - " + yaml.safe_dump(d, default_flow_style=True, sort_keys=False, width=10**6).strip())
    lines.append("layers:")
    prev = "input"
    for ri, (inst, _cls, members) in enumerate(runs):
        if ri in instance_of:
            bname, args, src = instance_of[ri]
            d = {"name": inst, "block": bname, **args}
            if src != prev:
                d["inputs"] = [src]
            lines.append("  - " + yaml.safe_dump(d, default_flow_style=True, sort_keys=False, width=10**6).strip())
            prev = members[-1][0]
            continue
        for nm, p in members:
            d = {"name": nm, "type": p.kind, **non_default(p.kind, p.params)}
            ins_names = [names[i] for i in p.inputs]
            if ins_names != [prev]:
                d["inputs"] = ins_names
            if p.note:
                d["note"] = p.note
            lines.append("  - " + yaml.safe_dump(d, default_flow_style=True, sort_keys=False, width=10**6).strip())
            prev = nm
    if outputs != [prev]:
        lines.append("outputs: " + yaml.safe_dump(outputs, default_flow_style=True, width=10**6).strip())
    n_inst = len(instance_of)
    text = (
        "\n".join(
            [
                *head,
                f"# {len(blocks)} block(s) for {n_inst} repeated module instances; every block expands to the "
                "traced layers.",
                *lines,
            ]
        )
        + "\n"
    )
    return text if _same_expansion(text, _flat_text(layers, names, outputs, top)) else None


def _flat_text(layers: list[tuple[str, str, Proto]], names: dict[str, str], outputs: list[str], top: list[str]) -> str:
    import yaml

    lines = [*top, "layers:"]
    prev = "input"
    for _k, nm, p in layers:
        d: dict[str, Any] = {"name": nm, "type": p.kind, **non_default(p.kind, p.params)}
        ins = [names[i] for i in p.inputs]
        if ins != [prev]:
            d["inputs"] = ins
        lines.append("  - " + yaml.safe_dump(d, default_flow_style=True, sort_keys=False, width=10**6).strip())
        prev = nm
    if outputs != [prev]:
        lines.append("outputs: " + yaml.safe_dump(outputs, default_flow_style=True, width=10**6).strip())
    return "\n".join(lines) + "\n"


def _same_expansion(a_text: str, b_text: str) -> bool:
    """Both specs analyse to the same layers with the same figures."""
    from cnnsize.engine.analysis import analyze
    from cnnsize.engine.errors import SpecError
    from cnnsize.engine.load import loads_spec

    try:
        a, b = analyze(loads_spec(a_text)), analyze(loads_spec(b_text))
    except SpecError:
        return False
    fig = ("name", "kind", "inputs", "output_shape", "weights", "biases", "macs", "flops", "connections")
    return [tuple(getattr(r, f) for f in fig) for r in a.layers] == [
        tuple(getattr(r, f) for f in fig) for r in b.layers
    ]


def non_default(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Leave out keys at their rule's default (pool strides equal to the kernel too)."""
    keys = RULES[kind].keys
    out = {}
    for k, v in params.items():
        if (
            k in keys
            and not keys[k].required
            and (v == keys[k].default or (k == "stride" and keys[k].default is None and v == params.get("kernel")))
        ):
            if not (k == "bias" and v == "untied"):
                continue
        out[k] = v
    return out

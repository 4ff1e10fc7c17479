"""The document model: what reading a spec gives (:class:`Spec`, one
:class:`LayerDef` per layer), the keys each part of a spec may have, and the
name scope of a block instance (:class:`Names`).

Plain classes rather than @dataclass: each dataclass exec()s generated code
when its module is imported, which every run of the CLI pays for.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from cnnsize.engine.errors import Diagnostic, Loc

FORMAT_VERSION = 1
# defaults; CNNSIZE_MAX_LAYERS / CNNSIZE_MAX_BLOCK_DEPTH in the environment raise them
MAX_LAYERS = 100_000
MAX_BLOCK_DEPTH = 32

TOP_KEYS = {
    "cnnsize",
    "name",
    "source",
    "description",
    "input",
    "vars",
    "defaults",
    "blocks",
    "layers",
    "outputs",
    "budgets",
}
BLOCK_KEYS = {"args", "layers", "output", "description", "note"}
INSTANCE_KEYS = {"block", "name", "inputs", "repeat", "note", "when"}
BUDGET_KEYS = {
    "max_params",
    "max_weights",
    "max_macs",
    "max_flops",
    "max_connections",
    "max_units",
    "max_activation_bytes",
    "max_peak_bytes",
    "max_training_bytes",
    "min_receptive_field",
    "max_receptive_field",
}

NO_LOCS: Mapping[str, Loc] = MappingProxyType({})  # read-only: shared by every layer without locations


class Names:
    """Names visible inside one block instance (or the top level)."""

    __slots__ = ("prefix", "local", "input_name", "parent")

    def __init__(self, prefix: str, input_name: str, parent: Names | None) -> None:
        self.prefix = prefix
        self.local: dict[str, str] = {}  # name as written -> full name
        self.input_name = input_name  # what 'input' means here
        self.parent = parent


class LayerDef:
    """One layer as the spec defines it. ``kind`` is the canonical kind (the
    JSON report's ``type``); ``written_type`` is the ``type:`` as written,
    which may be an alias of it."""

    __slots__ = (
        "name", "kind", "written_type", "params", "raw_inputs", "loc", "key_locs", "index", "scope",
        "explicit_inputs", "block", "inputs", "invalid", "instance", "instance_loc",
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        kind: str,
        written_type: str,
        params: dict[str, Any],
        raw_inputs: list[str],
        loc: Loc | None,
        key_locs: Mapping[str, Loc],
        index: int,
        scope: Names,
        explicit_inputs: bool,
        block: str | None = None,
        inputs: list[str] | None = None,
        invalid: bool = False,
        instance: str | None = None,
        instance_loc: Loc | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.written_type = written_type
        self.params = params
        self.raw_inputs = raw_inputs  # input names as written (the layer before, when none are)
        self.loc = loc
        self.key_locs = key_locs
        self.index = index
        self.scope = scope
        self.explicit_inputs = explicit_inputs
        self.block = block
        # full names: the layer before is one already; names written out are
        # resolved once the whole spec is expanded (reader._resolve_inputs)
        if inputs is None:
            inputs = [] if explicit_inputs else raw_inputs
        self.inputs: list[str] = inputs
        # the definition has an error (already reported): the engine does not
        # analyse it, and layers reading it are skipped rather than misreported
        self.invalid = invalid
        self.instance = instance  # innermost block instance holding this layer
        self.instance_loc = instance_loc


class Spec:
    def __init__(
        self,
        name: str,
        file: str,
        input: tuple[int, ...],
        layers: list[LayerDef],
        source: str = "",
        description: str = "",
        outputs: list[str] | None = None,
        budgets: dict[str, Any] | None = None,
        budget_locs: dict[str, Loc] | None = None,
        vars: dict[str, Any] | None = None,
        input_loc: Loc | None = None,
        loc: Loc | None = None,
        diagnostics: list[Diagnostic] | None = None,
        complete: bool = True,
        check_dangling: bool = True,
    ) -> None:
        self.name = name
        self.file = file
        self.input = input
        self.layers = layers
        self.source = source
        self.description = description
        self.outputs: list[str] = [] if outputs is None else outputs
        self.budgets: dict[str, Any] = {} if budgets is None else budgets
        self.budget_locs: dict[str, Loc] = {} if budget_locs is None else budget_locs
        self.vars: dict[str, Any] = {} if vars is None else vars
        self.input_loc = input_loc
        self.loc = loc
        # errors found while reading the spec; the engine adds its own to these
        self.diagnostics: list[Diagnostic] = [] if diagnostics is None else diagnostics
        # False when the layer graph could not be built (no usable input shape,
        # or expansion stopped at a limit): nothing can be analysed then
        self.complete = complete
        self.check_dangling = check_dangling

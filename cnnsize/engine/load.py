"""Read a spec and report all its errors, the reader's and the analysis's.

The spec reader (cnnsize.engine.spec) finds what is wrong with the document
itself; the analysis finds what is wrong with the layers it describes (shapes
that do not fit, cycles). A user sees both in one run, in source order, so
the entry points that read a spec for a command sit here, above both: the
reader never calls the analysis.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cnnsize.engine._gc import paused
from cnnsize.engine.analysis import analyze
from cnnsize.engine.errors import Diagnostic, SpecError
from cnnsize.engine.spec import Spec, read
from cnnsize.engine.yamlload import load_with_diagnostics, read_text


@paused
def parse(
    doc: Any,
    filename: str = "<spec>",
    overrides: Mapping[str, Any] | None = None,
    keep_going: bool = False,
    diagnostics: list[Diagnostic] | None = None,
) -> Spec:
    """Validate and expand a loaded document (LMap, or a plain dict).

    With ``keep_going`` a spec with errors is still returned (its errors in
    ``spec.diagnostics``, the faulty layers marked invalid), for
    :func:`cnnsize.engine.analysis.analyze` to report together with what it finds in
    the valid layers. Without it, any error raises SpecError holding every
    problem found, the engine's included. ``diagnostics``: faults found while
    loading (duplicate keys) that did not stop the loader.
    """
    spec = read(doc, filename, overrides, diagnostics)
    if spec.diagnostics and not keep_going:
        analyze(spec)  # raises SpecError: the spec's errors plus the engine's
        raise SpecError(spec.diagnostics)  # pragma: no cover - analyze raised
    return spec


@paused
def load_spec(path: str, overrides: Mapping[str, Any] | None = None, keep_going: bool = False) -> Spec:
    text = read_text(path)
    doc, diags = load_with_diagnostics(text, path)
    return parse(doc, path, overrides, keep_going, diags)


def loads_spec(
    text: str, filename: str = "<spec>", overrides: Mapping[str, Any] | None = None, keep_going: bool = False
) -> Spec:
    doc, diags = load_with_diagnostics(text, filename)
    return parse(doc, filename, overrides, keep_going, diags)

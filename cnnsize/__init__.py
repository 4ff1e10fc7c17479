"""cnnsize: exact, explained size and cost reports for CNN architectures.

The analysis path (this package minus ``cnnsize.torch``) never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from cnnsize.engine.analysis import Analysis


def analyze_file(path: str, **kwargs: Any) -> Analysis:
    """Load, validate and analyse a spec file (raises cnnsize.engine.errors.SpecError)."""
    from cnnsize.engine.analysis import analyze
    from cnnsize.engine.load import load_spec

    overrides = kwargs.pop("overrides", None)
    return analyze(load_spec(path, overrides), **kwargs)


def analyze_dict(doc: dict[str, Any], **kwargs: Any) -> Analysis:
    """Analyse a spec given as a Python dict (no YAML), e.g. from a search loop."""
    from cnnsize.engine.analysis import analyze
    from cnnsize.engine.load import parse

    overrides = kwargs.pop("overrides", None)
    return analyze(parse(doc, kwargs.pop("filename", "<dict>"), overrides), **kwargs)


def analyze_many(
    docs: Iterable[dict[str, Any]], *, errors: str = "raise", totals_only: bool = False, **kwargs: Any
) -> list[Any]:
    """Analyse many specs given as dicts: the batch API of an architecture search.

    The options of analyze_dict (input_shape, batch, dtype, convention,
    optimizer, overrides) apply to every spec. ``errors="raise"`` stops at the
    first invalid spec with its SpecError (a note names its index in the
    batch); ``errors="return"`` puts the SpecError in that spec's place and
    goes on, so one bad candidate does not cost the rest of the batch.
    ``totals_only`` returns each spec's totals dict instead of its Analysis:
    what a search ranks by, without keeping every layer of every candidate
    in memory (which costs a fifth more time per spec, and the memory).
    """
    from cnnsize.engine._gc import paused
    from cnnsize.engine.analysis import analyze
    from cnnsize.engine.errors import SpecError
    from cnnsize.engine.load import parse

    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
    overrides = kwargs.pop("overrides", None)
    filename = kwargs.pop("filename", "<dict>")

    @paused  # once for the batch, not per spec
    def run() -> list[Any]:
        out: list[Any] = []
        for i, doc in enumerate(docs):
            try:
                a = analyze(parse(doc, filename, overrides), **kwargs)
                out.append(a.totals if totals_only else a)
            except SpecError as exc:
                if errors == "raise":
                    exc.add_note(f"in spec {i} of the batch (0-based)")
                    raise
                out.append(exc)
        return out

    return run()


__all__ = ["__version__", "analyze_file", "analyze_dict", "analyze_many"]

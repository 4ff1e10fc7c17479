"""cnnsize: exact, explained size and cost reports for CNN architectures.

The analysis path (this package minus ``cnnsize.torch``) never imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from .analysis import Analysis


def analyze_file(path: str, **kwargs: Any) -> Analysis:
    """Load, validate and analyse a spec file (raises cnnsize.errors.SpecError)."""
    from .analysis import analyze
    from .spec import load_spec

    overrides = kwargs.pop("overrides", None)
    return analyze(load_spec(path, overrides), **kwargs)


def analyze_dict(doc: dict[str, Any], **kwargs: Any) -> Analysis:
    """Analyse a spec given as a Python dict (no YAML), e.g. from a search loop."""
    from .analysis import analyze
    from .spec import parse

    overrides = kwargs.pop("overrides", None)
    return analyze(parse(doc, kwargs.pop("filename", "<dict>"), overrides), **kwargs)


__all__ = ["__version__", "analyze_file", "analyze_dict"]

"""The data-centric loop: likely label errors, leaks and outliers, and the images worth labelling next.

Everything works on frozen pretrained features of the images, cached beside the data
(:func:`dataset_features`); names are imported on first use (PEP 562).
"""

from keras_cvcls.lazy_imports import exports_by_module, lazy_exports

# The module (in this package) that defines each public name.
_EXPORTS = exports_by_module(__name__, {
    "dataset_issues": ["FINDING_KINDS", "DatasetIssues", "Finding", "find_issues"],
    "features": ["dataset_features"],
    "simulation": ["labels_to_reach", "simulate_active_learning"],
    "suggestions": ["STRATEGIES", "Suggestion", "rank_for_labelling", "suggest_labels"],
})
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

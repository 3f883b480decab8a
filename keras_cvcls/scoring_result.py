"""``ScoringResult``: one image's classification, the type every way of scoring returns.

``ImageClassifier.classify`` (in process) and ``ScoringClient.score_images`` (REST or gRPC
against a served model) both return it, so their answers compare directly.
"""

import dataclasses
import json

import numpy as np


@dataclasses.dataclass(frozen=True)
class ScoringResult:
    """One image's result.

    Attributes:
        label: the top class.
        scores: float32 probabilities, one per class, in class-map order.
        labels: the class map (class names in score order), or None when the model has none.
        model_version: the version that answered (gRPC tells; REST does not), or None.
        present: a multi-label model's labels present in the image (score at or above the
            label's threshold), a tuple in class-map order; None for a single-label model.
    """

    label: str
    scores: np.ndarray
    labels: tuple = None
    model_version: int = None
    present: tuple = None

    def probabilities(self):
        """``{class name: probability}`` (``{index: probability}`` without a class map)."""
        keys = self.labels if self.labels is not None else range(len(self.scores))
        return {k: float(p) for k, p in zip(keys, self.scores, strict=False)}

    def top_k(self, k=5):
        """The ``k`` most probable ``(class, probability)`` pairs."""
        order = np.argsort(-self.scores, kind="stable")[:k]
        return [((self.labels[i] if self.labels is not None else int(i)), float(self.scores[i])) for i in order]

    def to_json(self):
        """The serialized result (what cvtk's ``score_image`` returned); see :func:`parse_serialized_result`."""
        return json.dumps(
            {
                "label": self.label,
                "scores": [float(s) for s in self.scores],
                "labels": list(self.labels) if self.labels is not None else None,
                "model_version": self.model_version,
                **({"present": list(self.present)} if self.present is not None else {}),
            }
        )


def scoring_results(scores, labels, thresholds=None):
    """One :class:`ScoringResult` per row of scores ``[N, C]`` (top label, scores, labels).

    With ``thresholds`` (a multi-label model's, one per label) each result also lists the
    labels ``present``: those whose score is at or above their threshold, in label order.
    """
    labels = tuple(labels)
    results = []
    for row in scores:
        present = None
        if thresholds is not None:
            present = tuple(label for label, score, t in zip(labels, row, thresholds, strict=True) if score >= t)
        results.append(ScoringResult(label=labels[int(np.argmax(row))], scores=row, labels=labels, present=present))
    return results

"""The review mode: :func:`~keras_cvcls.curation.find_issues`'s findings, one at a time, best first.

Each decision goes to the dataset's label-fix sidecar at once, through the annotation catalog
(so the grid, the counts and the results see it): *accept* gives the image the suggested label
(a finding without a suggestion, a duplicate or an outlier, is accepted by excluding the image),
*keep* records that a person kept the label (the sidecar's ``"kept"`` list; later checks do not
ask again), *exclude* leaves the image out. *Undo* restores the image as it was before the last
decision (label, exclusion and kept mark), in the sidecar too.

A finding's decision is read back from the sidecar, not remembered here: a restarted UI shows
what was decided.
"""

import os

ACTIONS = ("accept", "keep", "exclude")


class Review:
    """The findings of one dataset and the undo stack of the decisions taken on them.

    Args:
        issues: a :class:`~keras_cvcls.curation.DatasetIssues`, or the path of a findings file
            (``keras-cvcls dataset issues DIR --json > FILE``).
        catalog: the UI's catalog of the dataset (its relabel/exclude write the sidecar).

    Raises:
        ValueError: for a file that is not a findings file.
    """

    def __init__(self, issues, catalog):
        from keras_cvcls.curation.dataset_issues import DatasetIssues

        if isinstance(issues, (str, os.PathLike)):
            issues = DatasetIssues.load(issues)
        if not isinstance(issues, DatasetIssues):
            raise ValueError(f"issues must be a DatasetIssues or a findings file. Received: issues={issues!r}")
        self.catalog = catalog
        # Findings on images of this dataset (a leak found on a separate test folder is reviewed there).
        self.findings = [f for f in issues.findings if f.id in catalog.by_id]
        self.elsewhere = len(issues.findings) - len(self.findings)
        self.undo_stack = []

    def info(self):
        return {"num_findings": len(self.findings), "num_elsewhere": self.elsewhere}

    def _state(self, image_id):
        return {
            "label": self.catalog.label[image_id],
            "excluded": image_id in self.catalog.excluded,
            "kept": image_id in self.catalog.dataset.kept_ids,
        }

    def _decision(self, finding, state):
        if state["excluded"]:
            return "excluded"
        if finding.suggested_label and state["label"] == finding.suggested_label != finding.label:
            return "accepted"
        if state["kept"]:
            return "kept"
        return None

    def item(self, index):
        """The finding at ``index`` as the page shows it: the image's card, the finding, its decision."""
        finding = self.findings[index]
        record = self.catalog.by_id[finding.id]
        state = self._state(finding.id)
        item = self.catalog.item(record)
        other = self.catalog.by_id.get(finding.other_id) if finding.other_id else None
        item.update({
            "index": index,
            "kind": finding.kind,
            "score": finding.score,
            "reason": finding.reason,
            "finding_label": finding.label,
            "suggested_label": finding.suggested_label,
            "other_id": finding.other_id,
            "other_image": self.catalog.item(other)["image"] if other else None,
            "kept": state["kept"],
            "decision": self._decision(finding, state),
        })
        return item

    def items(self):
        return [self.item(i) for i in range(len(self.findings))]

    def _finding(self, image_id, kind=None):
        for i, f in enumerate(self.findings):
            if f.id == image_id and (kind is None or f.kind == kind):
                return i, f
        raise ValueError(f"No finding on this image. Received: id={image_id!r}")

    def decide(self, image_id, action, kind=None):
        """Applies ``action`` (accept, keep or exclude) to the finding on ``image_id``; returns its item."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}. Received: action={action!r}")
        index, finding = self._finding(image_id, kind)
        before = self._state(image_id)
        if action == "accept" and finding.suggested_label:
            self.catalog.relabel(image_id, finding.suggested_label)
            self._set_kept(image_id, False)
        elif action == "keep":
            if before["label"] != finding.label:  # keep the label the finding was about
                self.catalog.relabel(image_id, finding.label)
            if before["excluded"]:
                self.catalog.exclude(image_id, False)
            self._set_kept(image_id, True)
        else:  # exclude, or accept a finding that suggests leaving the image out
            self.catalog.exclude(image_id, True)
        self.undo_stack.append((image_id, kind or finding.kind, before))
        return self.item(index)

    def _set_kept(self, image_id, kept):
        if (image_id in self.catalog.dataset.kept_ids) != kept:
            self.catalog.dataset.keep_label(image_id, kept)

    def undo(self):
        """Restores the image of the last decision as it was; returns its item, or None with nothing to undo."""
        if not self.undo_stack:
            return None
        image_id, kind, before = self.undo_stack.pop()
        now = self._state(image_id)
        if now["label"] != before["label"]:
            self.catalog.relabel(image_id, before["label"])
        if now["excluded"] != before["excluded"]:
            self.catalog.exclude(image_id, before["excluded"])
        self._set_kept(image_id, before["kept"])
        return self.item(self._finding(image_id, kind)[0])

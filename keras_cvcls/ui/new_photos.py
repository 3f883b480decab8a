"""The "Label new" view: photos a model suggested for labelling, labelled into the dataset.

The suggestions are what ``keras-cvcls dataset suggest MODEL UNLABELLED_DIR --json`` printed (or
:func:`~keras_cvcls.curation.suggest_labels`' list). Labelling one copies the photo into
``DATA_DIR/LABEL/`` (:meth:`~keras_cvcls.data.ClassificationDataset.add`); labelling it again
relabels the copy through the label-fix sidecar, as any image of the dataset. Only the files
listed in the suggestions are served.
"""

import json
import os


class NewPhotos:
    """Suggested photos, in rank order, and the dataset images they became.

    Args:
        suggestions: a list of :class:`~keras_cvcls.curation.Suggestion`, or the path of the JSON
            that ``dataset suggest --json`` printed.
        catalog: the UI's catalog of the dataset.

    Raises:
        ValueError: for a file that is not such JSON.
    """

    def __init__(self, suggestions, catalog):
        if isinstance(suggestions, (str, os.PathLike)):
            try:
                with open(suggestions, encoding="utf-8") as f:
                    suggestions = json.load(f)["suggestions"]
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ValueError(
                    "Not a suggestions file: expected what `keras-cvcls dataset suggest --json` prints "
                    f"({type(e).__name__}: {e}). Received: suggestions={os.fspath(suggestions)!r}"
                ) from None
        rows = [s.to_dict() if hasattr(s, "to_dict") else dict(s) for s in suggestions]
        if not all(isinstance(r.get("path"), str) for r in rows):
            raise ValueError("Every suggestion needs the photo's path. Received: a suggestion without one")
        self.rows = rows
        self.catalog = catalog
        self.added = {}  # index -> id of the dataset image it became

    def info(self):
        return {"num_photos": len(self.rows), "num_labelled": len(self.added)}

    def _index(self, index):
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self.rows):
            raise ValueError(f"index must be an int from 0 to {len(self.rows) - 1}. Received: index={index!r}")
        return index

    def path(self, index):
        return self.rows[self._index(index)]["path"]

    def item(self, index):
        row = self.rows[index]
        added = self.added.get(index)
        return {
            "index": index,
            "rank": row.get("rank", index + 1),
            "name": os.path.basename(row["path"]),
            "path": row["path"],
            "score": row.get("score"),
            "predicted_label": row.get("predicted_label"),
            "probability": row.get("probability"),
            "image": f"/api/new/image?index={index}",
            "added_id": added,
            "label": self.catalog.label.get(added) if added else None,
        }

    def items(self):
        return [self.item(i) for i in range(len(self.rows))]

    def label(self, index, label):
        """Adds the photo to the dataset under ``label``, or relabels the copy it became; returns its item."""
        index = self._index(index)
        added = self.added.get(index)
        if added is None:
            record = self.catalog.dataset.add(self.rows[index]["path"], label)
            self.catalog.reload()
            self.added[index] = record.id
        else:
            if label not in self.catalog.dataset.labels:
                raise ValueError(f"Unknown label. Expected one of {self.catalog.dataset.labels}. Received: label={label!r}")
            self.catalog.relabel(added, label)
        return self.item(index)

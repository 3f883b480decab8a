"""Label fixes (relabelled and excluded images, and labels a person kept) kept in a sidecar file beside the data.

Fixes made by hand or in the annotation UI are written here at once (atomically)
and re-applied whenever the dataset is loaded again, so they survive a restart
without touching the image files themselves. ``"kept"`` lists images whose label a person
reviewed and kept (the review of :func:`~keras_cvcls.curation.find_issues`'s findings), so a
later check does not ask about them again.
"""

import json
import os

from keras_cvcls.data.json_files import write_json_atomic

SIDECAR_DIRNAME = ".keras_cvcls"
SIDECAR_FILENAME = "label_fixes.json"
FORMAT_VERSION = 1


class LabelFixes:
    """Relabels and exclusions by image id, optionally persisted to ``path``.

    Args:
        path: JSON file to read and write, or ``None`` to keep fixes in memory only.
    """

    def __init__(self, path=None):
        self.path = path
        self.relabeled = {}
        self.excluded = set()
        self.kept = set()
        if path and os.path.exists(path):
            self._read()

    def _read(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
            # A multi-label image's fix is its list of labels (MultiLabelDataset); a single-label one, a str.
            self.relabeled = {
                str(k): [str(x) for x in v] if isinstance(v, list) else str(v)
                for k, v in data.get("relabel", {}).items()
            }
            self.excluded = {str(i) for i in data.get("exclude", [])}
            self.kept = {str(i) for i in data.get("kept", [])}
        except (OSError, ValueError, AttributeError) as e:
            raise ValueError(
                f"The label-fix file {self.path} cannot be read ({e}). Fix or delete it. "
                f"Received: path={self.path!r}"
            ) from None

    def save(self):
        if not self.path:
            return
        data = {
            "version": FORMAT_VERSION,
            "relabel": dict(sorted(self.relabeled.items())),
            "exclude": sorted(self.excluded),
        }
        if self.kept:  # written only once used: files without reviews stay as they were
            data["kept"] = sorted(self.kept)
        try:
            write_json_atomic(self.path, data, indent=1, ensure_ascii=False)
        except OSError as e:
            raise OSError(
                f"Cannot save label fixes to {self.path}: {e.strerror}. "
                "Make the data folder writable or pass another sidecar path."
            ) from None

    def relabel(self, image_id, label, original_label):
        if label == original_label:
            self.relabeled.pop(image_id, None)
        else:
            self.relabeled[image_id] = label
        self.save()

    def exclude(self, image_id, excluded=True):
        if excluded:
            self.excluded.add(image_id)
        else:
            self.excluded.discard(image_id)
        self.save()

    def keep(self, image_id, kept=True):
        """Records that a person reviewed an image's label and kept it (``kept=False`` forgets it)."""
        if kept:
            self.kept.add(image_id)
        else:
            self.kept.discard(image_id)
        self.save()

"""SavedModel export for TF Serving: signatures, versions, class names, warm-up requests."""

from keras_cvcls.export.saved_model import export_for_serving
from keras_cvcls.export.saved_model import list_versions
from keras_cvcls.export.saved_model import read_labels

__all__ = ["export_for_serving", "list_versions", "read_labels"]

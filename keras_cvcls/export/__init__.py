"""SavedModel export for TF Serving (signatures, versions, class names, warm-up requests); TFLite and ONNX for edge devices."""

from keras_cvcls.export.edge_files import read_edge_info
from keras_cvcls.export.onnx_export import export_onnx
from keras_cvcls.export.saved_model import export_for_serving
from keras_cvcls.export.saved_model import list_versions
from keras_cvcls.export.saved_model import read_labels
from keras_cvcls.export.tflite_export import QUANTIZATIONS, export_tflite

__all__ = ["QUANTIZATIONS", "export_for_serving", "export_onnx", "export_tflite", "list_versions", "read_edge_info", "read_labels"]

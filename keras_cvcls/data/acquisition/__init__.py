"""Dataset acquisition: a folder dataset from a cvtk query file (folders, URLs, text queries).

Names are imported on first use (PEP 562).
"""

from keras_cvcls.lazy_imports import lazy_exports

_EXPORTS = {
    "DuplicateIndex": "keras_cvcls.data.acquisition.dedupe",
    "dhash": "keras_cvcls.data.acquisition.dedupe",
    "sha256_file": "keras_cvcls.data.acquisition.dedupe",
    "DownloadReport": "keras_cvcls.data.acquisition.download",
    "download_dataset": "keras_cvcls.data.acquisition.download",
    "FetchError": "keras_cvcls.data.acquisition.fetch",
    "FetchOptions": "keras_cvcls.data.acquisition.fetch",
    "FetchResult": "keras_cvcls.data.acquisition.fetch",
    "fetch_image": "keras_cvcls.data.acquisition.fetch",
    "QueryEntry": "keras_cvcls.data.acquisition.query_file",
    "classify_entry": "keras_cvcls.data.acquisition.query_file",
    "read_query_file": "keras_cvcls.data.acquisition.query_file",
    "UnsafePathError": "keras_cvcls.data.acquisition.safe_paths",
    "ensure_inside": "keras_cvcls.data.acquisition.safe_paths",
    "safe_label": "keras_cvcls.data.acquisition.safe_paths",
    "safe_stem": "keras_cvcls.data.acquisition.safe_paths",
    "ENDPOINT_ENV": "keras_cvcls.data.acquisition.download_options",
    "KEY_ENV": "keras_cvcls.data.acquisition.download_options",
    "ImageSearchProvider": "keras_cvcls.data.acquisition.search",
    "JsonImageSearchProvider": "keras_cvcls.data.acquisition.search",
    "MissingSearchKeyError": "keras_cvcls.data.acquisition.search",
    "SearchError": "keras_cvcls.data.acquisition.search",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

"""Dataset acquisition: a folder dataset from a cvtk query file (folders, URLs, text queries).

Names are imported on first use (PEP 562).
"""

from keras_cvcls.lazy_imports import exports_by_module, lazy_exports

# The module (in this package) that defines each public name.
_EXPORTS = exports_by_module(__name__, {
    "dedupe": ["DuplicateIndex", "dhash", "sha256_file"],
    "download": ["DownloadReport", "download_dataset"],
    "download_options": ["ENDPOINT_ENV", "KEY_ENV"],
    "fetch": ["FetchError", "FetchOptions", "FetchResult", "fetch_image", "fetch_image_bytes"],
    "guarded_session": ["guarded_session"],
    "public_address": ["ALLOW_PRIVATE_ENV", "PrivateAddressError"],
    "query_file": ["QueryEntry", "classify_entry", "read_query_file"],
    "safe_paths": ["UnsafePathError", "ensure_inside", "safe_label", "safe_stem"],
    "search": ["ImageSearchProvider", "JsonImageSearchProvider", "MissingSearchKeyError", "SearchError"],
})
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

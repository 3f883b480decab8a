"""The allowed values of ``download_dataset``'s options and the environment it reads (plain data).

The command line offers them as choices and in its help without importing the downloader.
"""

# How images from local folders are added.
LOCAL_FILE_MODES = ("copy", "hardlink", "symlink")
# Exact copies only, or near-duplicates too (difference hash).
DEDUPE_MODES = ("exact", "near")
# The image-search API for text queries: its key and endpoint.
KEY_ENV = "KERAS_CVCLS_SEARCH_KEY"
ENDPOINT_ENV = "KERAS_CVCLS_SEARCH_ENDPOINT"

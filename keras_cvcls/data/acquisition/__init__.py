"""Dataset acquisition: a folder dataset from a cvtk query file (folders, URLs, text queries)."""

from keras_cvcls.data.acquisition.dedupe import DuplicateIndex, dhash, sha256_file
from keras_cvcls.data.acquisition.download import DownloadReport, download_dataset
from keras_cvcls.data.acquisition.fetch import FetchError, FetchOptions, FetchResult, fetch_image
from keras_cvcls.data.acquisition.query_file import QueryEntry, classify_entry, read_query_file
from keras_cvcls.data.acquisition.safe_paths import UnsafePathError, ensure_inside, safe_label, safe_stem
from keras_cvcls.data.acquisition.search import ENDPOINT_ENV, KEY_ENV, ImageSearchProvider, JsonImageSearchProvider
from keras_cvcls.data.acquisition.search import MissingSearchKeyError, SearchError

"""Names TF Serving fixes, shared by the exporter, the embedded server and the scoring client.

A SavedModel's default signature key and the file TF Serving replays to warm a version up are
TF Serving's conventions; they are written here once and imported wherever they are needed.
"""

import os

# The signature TF Serving (and ScoringClient) uses when a request names none.
SERVING_SIGNATURE = "serving_default"
# Warm-up requests (PredictionLog records) TF Serving replays before a version serves.
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
# TF Serving refuses a warm-up file with more records than this.
MAX_WARMUP_RECORDS = 1000

"""Serving: an embedded TF-Serving-compatible server, REST and gRPC scoring clients, a load test.

from keras_cvcls.serving import ModelServer, ScoringClient, run_loadtest

with ModelServer("models/flowers", "flowers", rest_port=8501, grpc_port=8500):
    client = ScoringClient(url="http://localhost:8501", model_name="flowers")
    print(client.score_image("rose.jpg").label)
"""

from keras_cvcls.serving.batching import BatchingOptions
from keras_cvcls.serving.batching import BatchingParameters
from keras_cvcls.serving.batching import parse_batching_parameters
from keras_cvcls.serving.batching import read_batching_parameters_file
from keras_cvcls.scoring_result import ScoringResult
from keras_cvcls.serving.scoring_client import ScoringClient
from keras_cvcls.serving.scoring_error import ScoringError
from keras_cvcls.serving.serialized_result import parse_serialized_result
from keras_cvcls.serving.loadtest import run_loadtest
from keras_cvcls.serving.model_config import ModelConfig
from keras_cvcls.serving.model_config import parse_model_config
from keras_cvcls.serving.model_config import read_model_config_file
from keras_cvcls.serving.server import ModelServer
from keras_cvcls.serving.server import serve
from keras_cvcls.serving.status import Code
from keras_cvcls.serving.status import ServingError

__all__ = [
    "BatchingOptions",
    "BatchingParameters",
    "Code",
    "ModelConfig",
    "ModelServer",
    "ScoringClient",
    "ScoringError",
    "ScoringResult",
    "ServingError",
    "parse_batching_parameters",
    "parse_model_config",
    "parse_serialized_result",
    "read_batching_parameters_file",
    "read_model_config_file",
    "run_loadtest",
    "serve",
]

"""``ModelService.HandleReloadConfigRequest``: a new ``ModelServerConfig``, checked as TF Serving checks it.

The checks and their messages are TF Serving's, in its order (``model_service_impl.cc`` and
``server_core.cc``'s ``ReloadConfig``):

1. only a ``model_config_list`` is accepted (INVALID_ARGUMENT);
2. every model name once, every ``base_path`` absolute or a URI (``ValidateModelConfigList``);
3. a model already served keeps its platform (``ValidateNoModelsChangePlatforms``);
4. a version label points at a version that is AVAILABLE now (``UpdateModelVersionLabelMap``,
   FAILED_PRECONDITION);
5. every model names a platform the server has (``GetPlatform``, ``CreateStoragePathRoutes``).

A refused config changes nothing. An accepted one replaces the model list and returns once the
new models' versions have loaded (or failed to).
"""

import os

from keras_cvcls.serving.model_config import model_configs
from keras_cvcls.serving.status import Code, ServingError, invalid_argument

# tensorflow_serving/config/model_server_config.proto: ModelType.TENSORFLOW.
_MODEL_TYPE_TENSORFLOW = 1
_SERVED_PLATFORMS = ("tensorflow",)


def model_platform(entry):
    """``server_core.cc``'s GetPlatform: the platform of a ``ModelConfig`` proto entry.

    Raises:
        ServingError: INVALID_ARGUMENT when it names none, or both the deprecated ``model_type`` and a platform.
    """
    if entry.model_type:
        if entry.model_platform:
            raise invalid_argument(
                "Illegal setting both ModelServerConfig::model_type (deprecated) and "
                f"ModelServerConfig::model_platform, model name is {entry.name}"
            )
        if entry.model_type != _MODEL_TYPE_TENSORFLOW:
            raise invalid_argument(f"ModelServerConfig::model_type choice {entry.model_type} not supported.")
        return "tensorflow"
    if not entry.model_platform:
        raise invalid_argument(
            "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
            f"ModelServerConfig::model_platform, model name is {entry.name}"
        )
    return entry.model_platform


def _is_relative_path(uri):
    """``server_core.cc``'s UriIsRelativePath: no scheme, no host, not an absolute path."""
    return "://" not in uri and not os.path.isabs(uri)


def check_model_config_list(config_list, current):
    """TF Serving's checks of a new ``ModelConfigList`` that need no loaded state (steps 2 and 3).

    Args:
        config_list: the ``ModelConfigList`` proto.
        current: name -> :class:`~keras_cvcls.serving.model_config.ModelConfig` of the models served now.

    Raises:
        ServingError: INVALID_ARGUMENT with TF Serving's message.
    """
    names = set()
    for entry in config_list.config:
        if entry.name in names:
            raise invalid_argument(f"Illegal to list model {entry.name} multiple times in config list")
        names.add(entry.name)
    for entry in config_list.config:
        if _is_relative_path(entry.base_path):
            raise invalid_argument(
                f"Expected model {entry.name} to have an absolute path or URI; got base_path()={entry.base_path}"
            )
    for entry in config_list.config:
        old = current.get(entry.name)
        if old is None:
            continue
        platform = model_platform(entry)
        if platform != old.model_platform:
            raise invalid_argument(
                f"Illegal to change a model's platform. For model {entry.name} platform was {old.model_platform} "
                f"and new platform requested is {platform}"
            )


def check_platforms(config_list):
    """Step 5: every entry names a platform, and one this server serves."""
    for entry in config_list.config:
        platform = model_platform(entry)
        if platform not in _SERVED_PLATFORMS:
            raise invalid_argument(f"Model {entry.name} requests unsupported platform {platform}")


def reload_config(manager, config):
    """Applies a ``ModelServerConfig`` proto to a model manager, or refuses it as TF Serving does.

    Args:
        manager: the :class:`~keras_cvcls.serving.model_manager.ModelManager`.
        config: the ``ModelServerConfig`` of a ``ReloadConfigRequest``.

    Raises:
        ServingError: the code and message TF Serving's ``HandleReloadConfigRequest`` returns.
    """
    if config.WhichOneof("config") != "model_config_list":
        raise invalid_argument(
            "ServerModelConfig type not supported by HandleReloadConfigRequest. "
            "Only ModelConfigList is currently supported"
        )
    config_list = config.model_config_list

    def check(current, available):
        check_model_config_list(config_list, current)
        for entry in config_list.config:
            for label, version in sorted(entry.version_labels.items()):
                if version not in available.get(entry.name, ()):
                    raise ServingError(
                        Code.FAILED_PRECONDITION,
                        f"Request to assign label to version {version} of model {entry.name}, which is not "
                        "currently available for inference",
                    )
        check_platforms(config_list)

    try:
        models = model_configs(config_list)
    except ValueError as e:  # a name or policy our ModelConfig refuses
        raise invalid_argument(str(e)) from None
    manager.reload_config(models, check=check)

"""Which models to serve: TF Serving's ``models.config`` (``ModelServerConfig``) as :class:`ModelConfig`."""

import dataclasses

VERSION_POLICIES = ("latest", "all", "specific")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One served model, as a ``config { ... }`` entry of TF Serving's ``models.config``.

    Args:
        name: the model name clients use (``/v1/models/NAME``).
        base_path: folder holding one numbered sub-folder per version.
        version_policy: ``"latest"`` (the ``num_latest`` highest versions), ``"all"`` or
            ``"specific"`` (the ``versions`` listed).
        num_latest: how many versions ``"latest"`` serves.
        versions: the versions ``"specific"`` serves.
        version_labels: label -> version, e.g. ``{"stable": 1, "canary": 2}``.
        model_platform: TF Serving's platform; only ``"tensorflow"`` is served.

    Example:
        >>> ModelConfig("flowers", "/models/flowers", version_policy="specific", versions=(1, 2),
        ...             version_labels={"stable": 1, "canary": 2})
    """

    name: str
    base_path: str
    version_policy: str = "latest"
    num_latest: int = 1
    versions: tuple = ()
    version_labels: dict = dataclasses.field(default_factory=dict)
    model_platform: str = "tensorflow"

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or "/" in self.name or ":" in self.name:
            raise ValueError(f"name must be a non-empty string without '/' or ':'. Received: name={self.name!r}")
        if not self.base_path:
            raise ValueError(f"base_path must be a folder. Received: base_path={self.base_path!r}")
        if self.version_policy not in VERSION_POLICIES:
            raise ValueError(
                f"version_policy must be one of {VERSION_POLICIES}. Received: version_policy={self.version_policy!r}"
            )
        if self.version_policy == "latest" and (not isinstance(self.num_latest, int) or self.num_latest < 1):
            raise ValueError(f"num_latest must be a positive int. Received: num_latest={self.num_latest!r}")
        if self.version_policy == "specific" and not self.versions:
            raise ValueError(
                f"version_policy='specific' needs at least one version. Received: versions={self.versions!r}"
            )
        object.__setattr__(self, "versions", tuple(int(v) for v in self.versions))
        object.__setattr__(self, "version_labels", {str(k): int(v) for k, v in dict(self.version_labels).items()})

    def aspired(self, on_disk):
        """The versions this policy wants, among those on disk."""
        on_disk = sorted(on_disk)
        if self.version_policy == "all":
            return set(on_disk)
        if self.version_policy == "specific":
            return set(self.versions) & set(on_disk)
        return set(on_disk[-self.num_latest :])


def parse_model_config(text):
    """Parses TF Serving's ``ModelServerConfig`` text proto (``--model_config_file``).

    Args:
        text: the file's contents.

    Returns:
        A list of :class:`ModelConfig`.

    Raises:
        ValueError: on a syntax error, a ``custom_model_config`` or a platform other than TensorFlow.
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise ValueError(
            f"model config is not a valid ModelServerConfig text proto ({e}); fix the file. Received: text={text[:200]!r}"
        ) from e
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError(
            "model config must have a model_config_list (custom_model_config is not supported). "
            f"Received: config={config.WhichOneof('config')!r}"
        )
    for entry in config.model_config_list.config:
        if entry.model_platform not in ("", "tensorflow"):
            raise ValueError(
                f"model {entry.name!r}: only model_platform 'tensorflow' is served. "
                f"Received: model_platform={entry.model_platform!r}"
            )
    models = model_configs(config.model_config_list)
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique. Received: {names}")
    return models


def model_configs(config_list):
    """The :class:`ModelConfig` of each entry of a ``ModelConfigList`` proto, in order.

    Platforms are not checked here (a missing ``model_platform`` reads as ``"tensorflow"``):
    :func:`parse_model_config` and a config reload (:mod:`keras_cvcls.serving.config_reload`)
    check them, each in its own way.

    Raises:
        ValueError: for an invalid entry (see :class:`ModelConfig`).
    """
    models = []
    for entry in config_list.config:
        policy = entry.model_version_policy
        which = policy.WhichOneof("policy_choice") or "latest"
        kwargs = {}
        if which == "latest":
            kwargs["num_latest"] = policy.latest.num_versions or 1
        elif which == "specific":
            kwargs["versions"] = tuple(policy.specific.versions)
        models.append(
            ModelConfig(
                entry.name,
                entry.base_path,
                version_policy=which,
                version_labels=dict(entry.version_labels),
                model_platform=entry.model_platform or "tensorflow",
                **kwargs,
            )
        )
    return models


def read_model_config_file(path):
    """Reads a ``models.config`` file; see :func:`parse_model_config`."""
    with open(path, encoding="utf-8") as f:
        return parse_model_config(f.read())

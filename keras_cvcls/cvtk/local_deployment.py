"""cvtk's ``AMLDeployment``, on this machine: our SavedModel export served by our embedded server.

``LocalDeployment(deployment_name, associated_DNNModel=model).deploy()`` exports the model
(:func:`keras_cvcls.export_for_serving`) under the global context's ``outputs_path`` and serves
it with :class:`keras_cvcls.serving.ModelServer` (TF Serving's REST API) in this process;
``score_image`` scores through :class:`keras_cvcls.ScoringClient` and returns cvtk's serialized
result. For a real deployment, serve the same export with TensorFlow Serving.
"""

import os
import re
import threading

from keras_cvcls.cvtk.context import Context


class ClassificationRESTApiParameters:
    """cvtk's names of the scoring parameters."""

    ADD_SOFTMAX = "add_softmax"


ADD_SOFTMAX = ClassificationRESTApiParameters.ADD_SOFTMAX
_MODEL_URL = re.compile(r"^(https?://[^/]+)/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?(?::predict)?/?$")


class LocalDeployment:
    """cvtk's ``AMLDeployment`` on this machine (``aml_env="local"``).

    Args:
        deployment_name: the service's name; the model name clients use.
        associated_DNNModel: the trained classifier (an :class:`~keras_cvcls.ImageClassifier`,
            or a linear :class:`~keras_cvcls.ScikitClassifier`).
        aml_env: ``"local"``, the only environment here.
        replicas: 1, the only number of replicas here.

    Raises:
        ValueError: for another ``aml_env`` or ``replicas``, or an empty name.

    Example:
        >>> deploy_obj = LocalDeployment("flowers", associated_DNNModel=dnn_model)
        >>> deploy_obj.deploy()
        >>> scores = parse_serialized_result(deploy_obj.score_image("rose.jpg", image_resize_dims=[224, 224]))
        >>> deploy_obj.delete()
    """

    _services = {}
    _lock = threading.Lock()

    def __init__(self, deployment_name, associated_DNNModel=None, aml_env="local", replicas=1):
        if not isinstance(deployment_name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", deployment_name):
            raise ValueError(
                "deployment_name must be a name of letters, digits, '_', '.' and '-'. "
                f"Received: deployment_name={deployment_name!r}"
            )
        if aml_env != "local":
            raise ValueError(
                "aml_env must be 'local': keras-cvcls deploys on this machine (an embedded TF-Serving-compatible "
                "server). To deploy to a cluster, serve export_for_serving(...)'s folder with TensorFlow Serving "
                f"(see serving/ in the repository). Received: aml_env={aml_env!r}"
            )
        if replicas != 1:
            raise ValueError(f"replicas must be 1 for a local deployment. Received: replicas={replicas!r}")
        self.deployment_name = deployment_name
        self.associated_DNNModel = associated_DNNModel
        self.model_base_path = None
        self._server = None

    # --------------------------------------------------------------- services
    @classmethod
    def list_deployment(cls):
        """Names of the running local deployments."""
        with cls._lock:
            return sorted(cls._services)

    def is_existing_service(self):
        """Whether a deployment of this name is running."""
        with self._lock:
            return self.deployment_name in self._services

    @classmethod
    def delete_if_service_exist(cls, deployment_name):
        """Stops the deployment of that name if one runs; returns whether one did."""
        with cls._lock:
            service = cls._services.pop(deployment_name, None)
        if service is not None:
            service._server.stop()
            service._server = None
        return service is not None

    def deploy(self):
        """Exports the model (a new version under ``outputs_path/deployments/NAME``) and serves it.

        Returns:
            The service URL (:attr:`service_url`).

        Raises:
            ValueError: without a model, or when a deployment of this name already runs.
        """
        from keras_cvcls.export import export_for_serving
        from keras_cvcls.serving import ModelServer

        if self.associated_DNNModel is None:
            raise ValueError("deploy needs a model: LocalDeployment(name, associated_DNNModel=model).")
        with self._lock:
            if self.deployment_name in self._services:
                raise ValueError(
                    f"A deployment named {self.deployment_name!r} is running; delete it first "
                    "(LocalDeployment.delete_if_service_exist(name)). "
                    f"Received: deployment_name={self.deployment_name!r}"
                )
            self._services[self.deployment_name] = self
        try:
            outputs = Context.get_global_context().storage.outputs_path
            self.model_base_path = os.path.join(outputs, "deployments", self.deployment_name)
            export_for_serving(self.associated_DNNModel, self.model_base_path)
            self._server = ModelServer(
                self.model_base_path, self.deployment_name, rest_port=0, grpc_port=None, host="127.0.0.1"
            ).start()
        except BaseException:
            with self._lock:
                self._services.pop(self.deployment_name, None)
            raise
        return self.service_url

    def delete(self):
        """Stops this deployment (the exported model stays on disk)."""
        with self._lock:
            if self._services.get(self.deployment_name) is self:
                del self._services[self.deployment_name]
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def service_url(self):
        """The model's TF Serving REST URL, ``http://127.0.0.1:PORT/v1/models/NAME``.

        Raises:
            ValueError: before :meth:`deploy`.
        """
        if self._server is None:
            raise ValueError(f"The deployment {self.deployment_name!r} is not running: call deploy() first.")
        return f"{self._server.rest_url}/v1/models/{self.deployment_name}"

    # ---------------------------------------------------------------- scoring
    def score_image(self, image_path_or_url, image_resize_dims=None, parameters=None):
        """Scores one image on this deployment; returns cvtk's serialized result (a JSON string).

        Args:
            image_path_or_url: an image file or an ``http(s)`` URL.
            image_resize_dims: ``[width, height]`` to scale the image down to before upload.
            parameters: ``{ADD_SOFTMAX: True}`` (scores are probabilities either way).

        Returns:
            :meth:`keras_cvcls.ScoringResult.to_json`'s string; read the scores with
            :func:`keras_cvcls.serving.parse_serialized_result`.
        """
        return self.score_existing_service_with_image(
            image_path_or_url, self.service_url, image_resize_dims=image_resize_dims, parameters=parameters
        )

    @staticmethod
    def score_existing_service_with_image(
        image_path_or_url, service_endpoint_url, service_key=None, image_resize_dims=None, parameters=None
    ):
        """Scores one image on a running service, by its URL (cvtk's call form).

        Args:
            image_path_or_url: an image file or an ``http(s)`` URL.
            service_endpoint_url: a TF Serving model URL, ``http://HOST:PORT/v1/models/NAME``
                (:attr:`service_url`; TF Serving's and ``keras-cvcls serve``'s alike), optionally
                with ``/versions/N`` or ``/labels/LABEL``.
            service_key: None (or empty): TF Serving has no keys.
            image_resize_dims, parameters: as in :meth:`score_image`.

        Returns:
            The serialized result (a JSON string).

        Raises:
            ValueError: for a URL that is not a model URL, or a ``service_key``.
        """
        from keras_cvcls.serving import ScoringClient

        match = _MODEL_URL.match(service_endpoint_url) if isinstance(service_endpoint_url, str) else None
        if match is None:
            raise ValueError(
                "service_endpoint_url must be a TF Serving model URL like http://HOST:8501/v1/models/NAME "
                f"(LocalDeployment.service_url). Received: service_endpoint_url={service_endpoint_url!r}"
            )
        if service_key:
            raise ValueError(
                "service_key must be None: TF Serving (and keras-cvcls serve) take no keys; put an "
                "authenticating proxy in front of the server where you need one. Received: service_key=<hidden>"
            )
        url, model_name, version, version_label = match.groups()
        with ScoringClient(
            url=url, model_name=model_name, version=int(version) if version else None, version_label=version_label
        ) as client:
            result = client.score_image(image_path_or_url, image_resize_dims=image_resize_dims, parameters=parameters)
        return result.to_json()

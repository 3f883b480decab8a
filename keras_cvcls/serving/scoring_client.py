"""Scoring clients for TF Serving (and ``keras-cvcls serve``): REST and gRPC, same methods.

``ScoringClient(url=...)`` talks REST, ``ScoringClient(grpc=...)`` talks gRPC; both have
``score_image``, ``score_images``, ``model_status``, ``metadata`` and ``class_map``. Every call
has a timeout; a failed call raises :class:`ScoringError` carrying the server's own message;
only UNAVAILABLE (server starting, queue full, connection refused) is retried. Signature,
input and output names are read from the model's metadata, never assumed.

cvtk users: ``score_image(path_or_url, image_resize_dims=[224, 224])`` and
``parse_serialized_result(result.to_json())`` work as they did; ``class_map`` maps score
indices to class names.
"""

import os
import time

import numpy as np

from keras_cvcls.scoring_result import ScoringResult
from keras_cvcls.serving.grpc_transport import GrpcTransport
from keras_cvcls.serving.image_source import read_image_bytes
from keras_cvcls.serving.image_upload import prepare_image
from keras_cvcls.serving.model_metadata import model_info
from keras_cvcls.serving.rest_transport import RestTransport
from keras_cvcls.serving.scoring_error import ScoringError

_PARAMETERS = {"add_softmax": bool}


def check_parameters(parameters):
    """cvtk's ``parameters`` checked: None or ``{"add_softmax": bool}``."""
    if parameters is None:
        return
    if not isinstance(parameters, dict) or any(
        k not in _PARAMETERS or not isinstance(v, _PARAMETERS[k]) for k, v in parameters.items()
    ):
        raise ValueError(
            'parameters must be None or a dict like {"add_softmax": True}; the exported model already ends in a '
            f"softmax, so scores are probabilities either way. Received: parameters={parameters!r}"
        )


class ScoringClient:
    """Scores images on a TF Serving model over REST or gRPC; the same methods either way.

    Args:
        url: REST base URL, e.g. ``http://localhost:8501``.
        grpc: gRPC target, e.g. ``localhost:8500``; give exactly one of ``url`` and ``grpc``.
        model_name: the served model's name.
        timeout: seconds each call may take (also the wall-clock limit for downloading an
            image URL).
        version: ask a specific version (exclusive with ``version_label``).
        version_label: ask a labelled version, e.g. ``"stable"``.
        signature_name: the image signature; default ``serving_default``.
        max_retries: retries of a call that failed with UNAVAILABLE (0 for none).
        retry_backoff: seconds before the first retry; doubled each time.
        batch_size: most images per request in :meth:`score_images`.
        max_message_bytes: largest gRPC request.
        allow_private_addresses: also download image URLs from loopback, private and
            link-local addresses, i.e. your own network (None: ``$KERAS_CVCLS_ALLOW_PRIVATE_ADDRESSES``,
            else False: such image URLs are refused, redirects included). Only image URLs are
            concerned: the server at ``url``/``grpc`` is your choice and may be anywhere.

    Raises:
        ValueError: for missing or contradictory arguments.

    Example:
        >>> client = ScoringClient(url="http://localhost:8501", model_name="flowers")
        >>> result = client.score_image("rose.jpg")
        >>> result.label, result.probabilities()["rose"]
        ('rose', 0.93)
    """

    def __init__(
        self,
        url=None,
        grpc=None,
        model_name=None,
        timeout=10.0,
        *,
        version=None,
        version_label=None,
        signature_name=None,
        max_retries=2,
        retry_backoff=0.1,
        batch_size=32,
        max_message_bytes=64 << 20,
        allow_private_addresses=None,
    ):
        if (url is None) == (grpc is None):
            raise ValueError(f"give exactly one of url and grpc. Received: url={url!r}, grpc={grpc!r}")
        if not model_name or not isinstance(model_name, str):
            raise ValueError(f"model_name must be the served model's name. Received: model_name={model_name!r}")
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds. Received: timeout={timeout!r}")
        if version is not None and version_label is not None:
            raise ValueError(
                f"give at most one of version and version_label. Received: version={version!r}, "
                f"version_label={version_label!r}"
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
        if allow_private_addresses is not None and not isinstance(allow_private_addresses, bool):
            raise ValueError(
                f"allow_private_addresses must be True, False or None. Received: allow_private_addresses={allow_private_addresses!r}"
            )
        self.allow_private_addresses = allow_private_addresses
        self.model_name = model_name
        self.timeout = float(timeout)
        self.signature_name = signature_name
        self.max_retries = int(max_retries)
        self.retry_backoff = float(retry_backoff)
        self.batch_size = batch_size
        self.protocol = "rest" if url is not None else "grpc"
        if url is not None:
            self._transport = RestTransport(url, model_name, version, version_label, self.timeout)
        else:
            self._transport = GrpcTransport(grpc, model_name, version, version_label, self.timeout, max_message_bytes)
        self._info = None
        self._class_map = None
        self._class_map_fetched = False

    def _retrying(self, fn, *args):
        for attempt in range(self.max_retries + 1):
            try:
                return fn(*args)
            except ScoringError as e:
                if e.code != "UNAVAILABLE" or attempt == self.max_retries:
                    raise
                time.sleep(self.retry_backoff * 2**attempt)

    def model_status(self):
        """The model's version status, TF Serving's JSON shape (``{"model_version_status": [...]}``).

        Raises:
            ScoringError: e.g. NOT_FOUND for an unknown model.
        """
        return self._retrying(self._transport.model_status)

    def metadata(self):
        """The model's signatures, TF Serving's JSON shape (``{"model_spec", "metadata"}``).

        Raises:
            ScoringError: e.g. NOT_FOUND for an unknown model.
        """
        return self._retrying(self._transport.metadata)

    def refresh(self):
        """Forgets the cached metadata and class map (after the served version changed)."""
        self._info = None
        self._class_map = None
        self._class_map_fetched = False

    def _model_info(self):
        if self._info is None:
            self._info = model_info(self.metadata(), self.signature_name)
        return self._info

    @property
    def class_map(self):
        """The :class:`~keras_cvcls.ClassMap` of the served model (``class_map[i]`` names ``scores[i]``), or None.

        The same type as a classifier's ``class_map``. None when the model has no class-name
        signature. Read once from the model's class-name signature (``labels`` in models exported by
        keras-cvcls).
        """
        if not self._class_map_fetched:
            info = self._model_info()
            if info.labels_signature is not None and info.num_classes:
                signature, input_name, output_name = info.labels_signature
                ids = np.arange(info.num_classes, dtype=np.int64)
                outputs, _ = self._retrying(
                    self._transport.predict, signature, {input_name: ids}, info.output_dtypes[signature], [output_name]
                )
                from keras_cvcls.class_map import ClassMap

                self._class_map = ClassMap([v.decode("utf-8") for v in outputs[output_name].tolist()])
            self._class_map_fetched = True
        return self._class_map

    def encode_image(self, image, image_resize_dims=None):
        """The bytes :meth:`score_image` uploads for ``image`` (upright, resized if asked).

        Args:
            image: a file path, an ``http(s)://`` URL, encoded bytes, a PIL image or a uint8
                array ``[H, W, 3]``.
            image_resize_dims: ``(width, height)``: scale down before upload, aspect ratio
                kept, to the smallest size that still covers ``width`` x ``height``; one int:
                the shorter side; None: as is. Never scaled up.

        Raises:
            ValueError: for an unsupported ``image``, or a URL that cannot be downloaded or is
                refused (a private address, see ``allow_private_addresses``).
            FileNotFoundError: for a missing file.
        """
        data = read_image_bytes(image, timeout=self.timeout, allow_private_addresses=self.allow_private_addresses)
        return prepare_image(data, image_resize_dims)

    def score_image(self, image, image_resize_dims=None, parameters=None):
        """Scores one image.

        Args:
            image: a file path, an ``http(s)://`` URL, encoded bytes, a PIL image or a uint8 array.
            image_resize_dims: ``(width, height)`` to scale down to client-side before upload
                (smaller uploads): the aspect ratio is kept and the result still covers
                ``width`` x ``height`` (a 600x400 photo with ``(224, 224)`` is sent as
                336x224), so the served model crops the same window as from the original and
                the scores differ only by resampling and JPEG re-encoding. One int: the
                shorter side. None: upload as is. Images are never scaled up. EXIF
                orientation is applied client-side either way.
            parameters: cvtk's ``{"add_softmax": True}``, accepted for compatibility: the
                exported model ends in a softmax, so scores are probabilities.

        Returns:
            A :class:`ScoringResult`.

        Raises:
            ScoringError: with the server's message (bad image, unknown model, ...).
        """
        return self.score_images([image], image_resize_dims, parameters)[0]

    def score_images(self, images, image_resize_dims=None, parameters=None):
        """Scores several images, ``batch_size`` per request; returns a list of :class:`ScoringResult`.

        For a multi-label model each result's ``present`` lists the labels the served model
        found above their thresholds (its string ``[batch, classes]`` output).

        Raises:
            ScoringError: with the server's message.
        """
        check_parameters(parameters)
        if isinstance(images, (str, bytes, os.PathLike)):
            raise ValueError(f"images must be a list; use score_image for one. Received: images={images!r}")
        payloads = [self.encode_image(image, image_resize_dims) for image in images]
        info = self._model_info()
        dtypes = info.output_dtypes[info.signature_name]
        wanted = [info.scores_output] + ([info.classes_output] if info.classes_output else [])
        wanted += [info.present_output] if info.present_output else []
        labels = self.class_map
        results = []
        for start in range(0, len(payloads), self.batch_size):
            chunk = payloads[start : start + self.batch_size]
            batch = np.empty(len(chunk), dtype=object)
            batch[:] = chunk
            outputs, version = self._retrying(
                self._transport.predict, info.signature_name, {info.image_input: batch}, dtypes, wanted
            )
            scores = np.asarray(outputs[info.scores_output], dtype=np.float32)
            classes = outputs.get(info.classes_output) if info.classes_output else None
            present = outputs.get(info.present_output) if info.present_output else None
            for i, row in enumerate(scores):
                if classes is not None:
                    label = classes[i].decode("utf-8") if isinstance(classes[i], bytes) else str(classes[i])
                elif labels is not None:
                    label = labels[int(np.argmax(row))]
                else:
                    label = str(int(np.argmax(row)))
                names = None
                if present is not None:  # a multi-label model: the labels at or above their thresholds
                    names = tuple(
                        v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in present[i] if v not in (b"", "")
                    )
                results.append(ScoringResult(label, row, tuple(labels) if labels else None, version, names))
        return results

    def close(self):
        self._transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

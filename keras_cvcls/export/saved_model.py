"""Exports a trained classifier as a versioned SavedModel that TF Serving loads as is.

Layout written by :func:`export_for_serving`::

    BASE_PATH/                     the model's base path (``--model_base_path``)
      1/                           one folder per version, an integer
        saved_model.pb             signatures: serving_default, predict_images, labels, classification
        variables/
        assets/labels.txt          the class names, one per line, in score order
        assets.extra/tf_serving_warmup_requests
                                   a TFRecord of PredictionLog, replayed by TF Serving at load

Signatures (``saved_model_cli show --dir BASE_PATH/1 --all`` lists them):

* ``serving_default``: ``image_bytes`` (string ``[-1]``, encoded JPEG/PNG/GIF/BMP/WebP files)
  -> ``scores`` (float ``[-1, C]`` probabilities) and ``classes`` (string ``[-1]``, top label).
  Decoding and resizing run in the graph through
  :func:`keras_cvcls.data.decode.decode_image`, the function the training pipeline uses. An
  image whose header declares more than ``DEFAULT_MAX_PIXELS`` pixels (datasets' limit, about
  89.5 megapixels) is refused before decoding, with INVALID_ARGUMENT naming size and limit.
  A multi-label model (``ImageClassifier(multi_label=True)``) returns per-label sigmoid
  probabilities as ``scores``, ``classes`` (the top label) and ``present`` (string
  ``[-1, C]``: column ``j`` holds ``labels[j]`` where ``scores[:, j]`` is at or above the
  model's threshold for that label, else ``""``); the thresholds are constants of the graph.
* ``predict_images``: ``images`` (float ``[-1, H, W, 3]``, pixel values 0-255) -> the same outputs.
* ``labels``: ``class_ids`` (int64 ``[-1]``) -> ``labels`` (string ``[-1]``); clients read the
  class map through it (``class_ids = range(C)``).
* ``classification`` (method ``tensorflow/serving/classify``, for TF Serving's ``Classify`` RPC
  and REST ``:classify``): ``inputs`` (string ``[-1]``, serialized ``tf.Example`` protos with
  the encoded image file under the bytes feature ``image/encoded``) -> ``classes`` (string
  ``[-1, C]``, every label in score order) and ``scores`` (float ``[-1, C]``).

Every signature checks the shape of its input in the graph (``tf.ensure_shape``), so a real
TF Serving, which checks no shapes before running (``predict_util.cc``), answers a wrongly
shaped tensor with INVALID_ARGUMENT instead of running the model on it.

The exported graph is the inference form of the model: each batch norm after a convolution is
folded into the convolution's kernel and bias (:func:`keras_cvcls.models.fold_batch_norm`), so
TF Serving runs one fused convolution where Keras runs a convolution and a batch norm. A
subclassed Keras model has no graph to rewrite and is exported as it is.

A version folder is built in a hidden temporary folder beside it and renamed into place, so a
server polling the base path never sees a half-written version.
"""

import io
import os
import re
import shutil
import tempfile

import numpy as np

from keras_cvcls.tf_serving_names import SERVING_SIGNATURE, WARMUP_FILE

LABELS_ASSET = "labels.txt"
IMAGES_SIGNATURE = "predict_images"
LABELS_SIGNATURE = "labels"
CLASSIFY_SIGNATURE = "classification"
# The tf.Example feature holding the encoded image in a Classify request (TF Object Detection's key).
IMAGE_FEATURE = "image/encoded"
_CLASSIFY_METHOD = "tensorflow/serving/classify"
_VERSION_RE = re.compile(r"^[0-9]+$")


def list_versions(base_path):
    """Returns the sorted integer versions (numeric sub-folders) under ``base_path``.

    Hidden folders, files and non-numeric names are ignored, as TF Serving ignores them.

    Args:
        base_path: the model's base path; a missing folder has no versions.

    Returns:
        A sorted list of ints.
    """
    try:
        names = os.listdir(base_path)
    except FileNotFoundError:
        return []
    return sorted(
        int(name) for name in names if _VERSION_RE.match(name) and os.path.isdir(os.path.join(base_path, name))
    )


def read_labels(export_dir):
    """Reads the class names of an exported version from ``assets/labels.txt``.

    Args:
        export_dir: a version folder written by :func:`export_for_serving`.

    Returns:
        The list of class names, in the order of the ``scores`` columns.

    Raises:
        FileNotFoundError: when the folder has no ``assets/labels.txt``.
    """
    with open(os.path.join(export_dir, "assets", LABELS_ASSET), encoding="utf-8") as f:
        return f.read().split("\n")[:-1]


def _serving_parts(classifier, labels, image_size, resize_mode):
    """``(keras model, labels, (height, width), resize_mode)`` to export, or a ValueError saying what is wrong.

    A classifier of the contract (:class:`ImageClassifier`, :class:`ScikitClassifier`) carries
    its labels, input size and resize mode; a plain Keras model is given them as arguments.
    """
    import keras

    from keras_cvcls.data.decode import RESIZE_MODES, normalize_image_size
    from keras_cvcls.models import ImageClassifier, ScikitClassifier

    given = {"labels": labels, "image_size": image_size, "resize_mode": resize_mode}
    if isinstance(classifier, (ImageClassifier, ScikitClassifier)):
        passed = {name: value for name, value in given.items() if value is not None}
        if passed:
            raise ValueError(
                f"A {type(classifier).__name__} carries its own labels, image_size and resize_mode; "
                f"do not pass them. Received: {', '.join(f'{k}={v!r}' for k, v in passed.items())}"
            )
        model = classifier.to_keras()
        labels, image_size, resize_mode = classifier.labels, classifier.image_size, classifier.resize_mode
    elif isinstance(classifier, keras.Model):
        missing = [name for name, value in given.items() if value is None]
        if missing:
            raise ValueError(
                f"A plain Keras model carries no class map: pass {missing} to export_for_serving: `labels` "
                "(class names in score order), `image_size` ((height, width) the model takes) and "
                f"`resize_mode` (one of {RESIZE_MODES}, how serving resizes images as training did). "
                f"Received: classifier of type {type(classifier).__name__}"
            )
        model = classifier
    else:
        raise ValueError(
            "classifier must be an ImageClassifier, a ScikitClassifier, or a Keras model mapping float32 "
            f"images [N, H, W, 3] to probabilities [N, C]. Received: classifier={classifier!r}"
        )
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__iter__"):
        raise ValueError(f"labels must be a list of class names. Received: labels={labels!r}")
    labels = list(labels)
    bad = [x for x in labels if not isinstance(x, str) or not x or "\n" in x or "\r" in x]
    if not labels or bad:
        raise ValueError(
            f"labels must be a non-empty list of non-empty strings without line breaks. Received: labels={labels!r}"
        )
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels has duplicates. Received: labels={labels!r}")
    image_size = normalize_image_size(image_size)
    if resize_mode not in RESIZE_MODES:
        raise ValueError(f"resize_mode must be one of {RESIZE_MODES}. Received: resize_mode={resize_mode!r}")
    return model, labels, image_size, resize_mode


def _check_outputs(classifier, labels, image_size, multi_label=False):
    """Runs the classifier once on a grey image: [1, C] probabilities with C == len(labels)."""
    import tensorflow as tf

    probe = tf.fill([1, image_size[0], image_size[1], 3], 128.0)
    try:
        scores = classifier(probe, training=False)
    except Exception as e:  # the message says which model and which input failed
        raise ValueError(
            f"classifier failed on a float32 input of shape [1, {image_size[0]}, {image_size[1]}, 3] "
            f"(its image_size): {e}"
        ) from e
    if isinstance(scores, (dict, list, tuple)):
        raise ValueError(
            f"classifier must return one tensor of probabilities [N, C]. Received: {type(scores).__name__} output"
        )
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[1] != len(labels):
        raise ValueError(
            f"classifier output has shape {list(scores.shape)} for one image, but it has {len(labels)} labels: "
            f"expected [1, {len(labels)}]"
        )
    if multi_label:
        if not np.all((scores >= -1e-6) & (scores <= 1 + 1e-6)):
            raise ValueError(
                "A multi-label classifier must output per-label probabilities (end in a sigmoid). "
                f"Received: scores={scores.tolist()}"
            )
    elif not (np.all(scores >= -1e-6) and abs(float(scores.sum()) - 1.0) < 1e-3):
        raise ValueError(
            "classifier must output class probabilities (end in a softmax); the output for a grey image "
            f"sums to {float(scores.sum()):.4g}. Received: scores={scores.tolist()}"
        )


def _warmup_jpeg(image_size):
    """A small, deterministic JPEG larger than the model input (exercises the decode path)."""
    from PIL import Image

    h, w = image_size[0] * 2, image_size[1] * 2
    y, x = np.mgrid[0:h, 0:w]
    image = np.stack([255 * y / max(h - 1, 1), np.full((h, w), 96.0), 255 * x / max(w - 1, 1)], axis=-1)
    buf = io.BytesIO()
    Image.fromarray(image.astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _write_warmup(export_dir, image_size):
    """Writes ``assets.extra/tf_serving_warmup_requests``: PredictionLogs of serving_default requests."""
    import tensorflow as tf

    try:
        from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
    except ImportError as e:  # pragma: no cover - the serving extra is a test dependency
        raise ImportError(
            "warmup=True needs tensorflow-serving-api (pip install 'keras-cvcls[serving]'); or export with warmup=False"
        ) from e
    path = os.path.join(export_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    jpeg = _warmup_jpeg(image_size)
    with tf.io.TFRecordWriter(path) as writer:
        for batch in (1, 2):  # the shapes clients send most: one image, a small batch
            request = predict_pb2.PredictRequest()
            request.model_spec.signature_name = SERVING_SIGNATURE
            request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([jpeg] * batch, dtype=tf.string))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def _inference_form(model):
    """The model with its batch norms folded into its convolutions (a subclassed model as it is)."""
    from keras_cvcls.models.batch_norm_folding import fold_batch_norm, functional_graph

    return fold_batch_norm(model) if functional_graph(model) is not None else model


def _build_archive(classifier, labels_file, num_classes, image_size, resize_mode, thresholds=None):
    import keras
    import tensorflow as tf

    from keras_cvcls.data.decode import decode_image
    from keras_cvcls.data.image_check import DEFAULT_MAX_PIXELS

    classifier = _inference_form(classifier)

    height, width = image_size
    asset = tf.saved_model.Asset(labels_file)
    table = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
            asset,
            key_dtype=tf.int64,
            key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
            value_dtype=tf.string,
            value_index=tf.lookup.TextFileIndex.WHOLE_LINE,
        ),
        default_value="",
    )
    holder = tf.Module()
    holder.labels_asset = asset
    holder.labels_table = table

    def predict(images):
        scores = tf.cast(classifier(images, training=False), tf.float32)
        classes = table.lookup(tf.argmax(scores, axis=-1, output_type=tf.int64))
        if thresholds is None:
            return {"scores": scores, "classes": classes}
        names = table.lookup(tf.range(num_classes, dtype=tf.int64))[tf.newaxis]
        above = scores >= tf.constant(thresholds, tf.float32)[tf.newaxis]
        present = tf.where(above, tf.broadcast_to(names, tf.shape(above)), tf.constant(""))
        return {"scores": scores, "classes": classes, "present": present}

    def scores_of_files(image_bytes):
        images = tf.map_fn(
            lambda contents: decode_image(
                contents, (height, width), resize_mode=resize_mode, orientation=None, max_pixels=DEFAULT_MAX_PIXELS
            ),
            image_bytes,
            fn_output_signature=tf.TensorSpec([height, width, 3], tf.float32),
        )
        return predict(images)

    # tf.ensure_shape is a run-time check (the tf.debugging asserts are decided at trace time
    # from the static shape, and leave no op): TF Serving feeds tensors of any shape.
    def serving_default(image_bytes):
        return scores_of_files(tf.ensure_shape(image_bytes, [None]))

    def predict_images(images):
        return predict(tf.cast(tf.ensure_shape(images, [None, height, width, 3]), tf.float32))

    def class_names(class_ids):
        return {"labels": table.lookup(tf.cast(tf.ensure_shape(class_ids, [None]), tf.int64))}

    def classification(inputs):
        examples = tf.io.parse_example(
            tf.ensure_shape(inputs, [None]), {IMAGE_FEATURE: tf.io.FixedLenFeature([], tf.string)}
        )
        scores = scores_of_files(examples[IMAGE_FEATURE])["scores"]
        labels = table.lookup(tf.range(num_classes, dtype=tf.int64))
        return {"classes": tf.tile(labels[tf.newaxis], [tf.shape(scores)[0], 1]), "scores": scores}

    archive = keras.export.ExportArchive()
    archive.track(classifier)
    archive.track(holder)
    archive.add_endpoint(
        SERVING_SIGNATURE, serving_default, input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")]
    )
    archive.add_endpoint(
        IMAGES_SIGNATURE,
        predict_images,
        input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32, name="images")],
    )
    archive.add_endpoint(
        LABELS_SIGNATURE, class_names, input_signature=[tf.TensorSpec([None], tf.int64, name="class_ids")]
    )
    archive.add_endpoint(
        CLASSIFY_SIGNATURE, classification, input_signature=[tf.TensorSpec([None], tf.string, name="inputs")]
    )
    return archive, holder


def _mark_classification_signature(export_dir):
    """Sets the ``classification`` SignatureDef's method to ``tensorflow/serving/classify``.

    Keras' ExportArchive writes every endpoint as a predict signature; TF Serving's Classify
    reads the method name from ``saved_model.pb``, so it is set there, in the file itself.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(export_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        meta_graph.signature_def[CLASSIFY_SIGNATURE].method_name = _CLASSIFY_METHOD
    with open(path, "wb") as f:
        f.write(saved_model.SerializeToString())


def export_for_serving(classifier, base_path, version=None, *, warmup=True, labels=None, image_size=None, resize_mode=None):
    """Writes ``base_path/<version>/``, a SavedModel that TF Serving (or ``keras-cvcls serve``) serves.

    The version folder is built in a hidden temporary folder inside ``base_path`` and renamed
    into place in one step, so a server polling ``base_path`` loads either nothing or the whole
    version.

    Args:
        classifier: an :class:`~keras_cvcls.models.ImageClassifier` or a
            :class:`~keras_cvcls.models.ScikitClassifier` (the classifier contract: its
            ``to_keras()`` graph is exported with its ``labels``, ``image_size`` and
            ``resize_mode``; a ScikitClassifier needs a linear learner, others raise), or a
            plain Keras model mapping float32 images ``[N, H, W, 3]`` (pixel values 0-255) to
            class probabilities ``[N, C]``, given ``labels``, ``image_size`` and ``resize_mode``.
        base_path: the model's base path, e.g. ``models/flowers``; created when missing.
        version: a positive int; ``None`` takes the next integer after the highest version there.
        warmup: write ``assets.extra/tf_serving_warmup_requests`` (needs tensorflow-serving-api).
        labels: the ``C`` class names in score order, for a plain Keras model only.
        image_size: ``(height, width)`` (or an int) the plain Keras model takes.
        resize_mode: ``"crop"``, ``"pad"`` or ``"stretch"``: how serving fits images to
            ``image_size``, as training did; for a plain Keras model only.

    Returns:
        The path of the new version folder.

    Raises:
        ValueError: when the classifier lacks what export needs (the message says what), a
            classifier of the contract is also given ``labels``/``image_size``/``resize_mode``,
            or ``version`` is not a positive int.
        FileExistsError: when that version already exists.

    Example:
        >>> path = export_for_serving(classifier, "models/flowers")   # models/flowers/1
        >>> read_labels(path)
        ['daisy', 'rose', 'tulip']
    """
    import tensorflow as tf

    thresholds = getattr(classifier, "thresholds", None) if getattr(classifier, "multi_label", False) else None
    classifier, labels, image_size, resize_mode = _serving_parts(classifier, labels, image_size, resize_mode)
    if version is not None and (isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 1):
        raise ValueError(f"version must be a positive int or None. Received: version={version!r}")
    _check_outputs(classifier, labels, image_size, multi_label=thresholds is not None)
    base_path = os.fspath(base_path)
    os.makedirs(base_path, exist_ok=True)
    if version is None:
        existing = list_versions(base_path)
        version = existing[-1] + 1 if existing else 1
    final = os.path.join(base_path, str(int(version)))
    if os.path.exists(final):
        raise FileExistsError(f"version {version} already exists: {final}")

    staging = tempfile.mkdtemp(prefix=f".{version}.export-", dir=base_path)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            labels_file = os.path.join(scratch, LABELS_ASSET)
            with open(labels_file, "w", encoding="utf-8", newline="\n") as f:
                f.write("".join(label + "\n" for label in labels))
            archive, _ = _build_archive(classifier, labels_file, len(labels), image_size, resize_mode, thresholds)
            export_dir = os.path.join(staging, "model")
            archive.write_out(export_dir, options=tf.saved_model.SaveOptions(), verbose=False)
            _mark_classification_signature(export_dir)
        if warmup:
            _write_warmup(export_dir, image_size)
        for root, _, files in os.walk(export_dir):  # mkdtemp is 0700; servers may run as another user
            os.chmod(root, 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
        try:
            os.rename(export_dir, final)
        except OSError as e:
            if os.path.exists(final):
                raise FileExistsError(f"version {version} was written concurrently: {final}") from e
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final

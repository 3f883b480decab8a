"""Test-time augmentation: a classifier's probabilities averaged over flipped and cropped views.

``ImageClassifier.predict_images(..., tta=True)``, ``predict_scores(..., tta=True)``,
``TrainingRun.evaluate(tta=True)`` and ``keras-cvcls evaluate --tta`` run the model through
:class:`TestTimeAugmentation`: every image (already decoded and resized as in training) is
seen as :data:`TTA_VIEWS`, the model scores all of them in one batch, and the softmax
probabilities are averaged. It costs one forward pass per view (4x); what it gains is
measured in ``bench/RESULTS.md`` (issue 19).
"""

import weakref

import keras
import tensorflow as tf

# One wrapper per inference model (kept outside the classifier, so Keras does not track it as a layer).
_WRAPPERS = weakref.WeakKeyDictionary()

# The views, in order: the image, its mirror image, the central crop (CROP_FRACTION of each
# side, resized back to the input size, i.e. a 1/0.875 zoom) and the mirrored central crop.
TTA_VIEWS = ("original", "flip", "crop", "flip_crop")
CROP_FRACTION = 0.875


def tta_views(images, crop_fraction=CROP_FRACTION):
    """The :data:`TTA_VIEWS` of a batch ``[N, H, W, C]``, stacked view by view: ``[4 * N, H, W, C]``."""
    images = tf.convert_to_tensor(images)
    height, width = images.shape[1], images.shape[2]
    crop_h, crop_w = round(height * crop_fraction), round(width * crop_fraction)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    crop = tf.image.resize(images[:, top : top + crop_h, left : left + crop_w], (height, width), method="bilinear")
    crop = tf.cast(crop, images.dtype)
    flip = images[:, :, ::-1]
    return tf.concat([images, flip, crop, crop[:, :, ::-1]], axis=0)


class TestTimeAugmentation(keras.Model):
    """Wraps a classifier (images in [0, 255] -> probabilities) to average its outputs over :data:`TTA_VIEWS`.

    Args:
        classifier: a Keras model taking ``[N, H, W, 3]`` images with a fixed ``H, W``.
        crop_fraction: the side of the central crop, as a fraction of the image's, in (0, 1).

    Example:
        >>> tta = TestTimeAugmentation(model.inference_model())
        >>> tta.predict(images).shape == model.predict(images).shape
        True
    """

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, classifier, *, crop_fraction=CROP_FRACTION, **kwargs):
        super().__init__(**kwargs)
        if isinstance(crop_fraction, bool) or not isinstance(crop_fraction, (int, float)) or not 0 < crop_fraction < 1:
            raise ValueError(f"crop_fraction must be a number in (0, 1). Received: crop_fraction={crop_fraction!r}")
        self.classifier = classifier
        self.crop_fraction = float(crop_fraction)

    def call(self, images, training=False):
        count = tf.shape(images)[0]
        scores = self.classifier(tta_views(images, self.crop_fraction), training=False)
        scores = tf.reshape(scores, (len(TTA_VIEWS), count, -1))
        return tf.reduce_mean(tf.cast(scores, tf.float32), axis=0)


def tta_model(classifier):
    """The :class:`TestTimeAugmentation` of ``classifier``, built once and reused (its predict step stays compiled)."""
    wrapper = _WRAPPERS.get(classifier)
    if wrapper is None:
        wrapper = _WRAPPERS[classifier] = TestTimeAugmentation(classifier)
    return wrapper


__all__ = ["CROP_FRACTION", "TTA_VIEWS", "TestTimeAugmentation", "tta_model", "tta_views"]

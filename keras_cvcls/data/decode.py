"""The one decode-and-resize function, shared by training pipelines and SavedModel exports.

Everything that turns encoded image bytes into model input goes through
:func:`decode_image`, a pure TensorFlow graph function, so that the ``tf.data``
training pipeline and the TF Serving signature (which runs the same function on
request bytes) cannot diverge.

Resize modes (``resize_mode``):

* ``"crop"`` (default): centre-crop the largest window with the target aspect
  ratio, then resize. Nothing is distorted; a sliver at the long sides is lost.
  This matches the standard ImageNet evaluation transform the pretrained
  backbones were trained with, and Keras' ``crop_to_aspect_ratio=True``.
* ``"pad"``: resize to fit inside the target, keeping the aspect ratio, and pad
  with black. Keeps all content at a lower resolution.
* ``"stretch"``: resize to the target, distorting the aspect ratio (cvtk's and
  ``keras.utils.image_dataset_from_directory``'s default behaviour).

JPEG fast path: for JPEG input the crop window is decoded directly
(``decode_and_crop_jpeg``) and, when the window is at least twice the target
size, libjpeg's DCT-domain down-scaling (``ratio`` 2, 4 or 8) decodes a smaller
image straight away. A 12-megapixel photo going to 224 px is decoded at 1/8
scale, which is many times faster and acts as an area (anti-aliasing) filter.

EXIF orientation: the ``orientation`` argument (EXIF tag 274, 1-8; 1 = upright)
is applied after decoding, so camera photos stored sideways reach the model
upright. :class:`~keras_cvcls.data.ClassificationDataset` reads it from each
file when the dataset is created.
"""

import tensorflow as tf

from keras_cvcls.data.encoded_size import check_pixels

RESIZE_MODES = ("crop", "pad", "stretch")


def normalize_image_size(image_size):
    """Returns ``(height, width)`` from an int or a pair.

    Raises:
        ValueError: if the size is not a positive int or a pair of them.
    """
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        size = (image_size, image_size)
    else:
        try:
            size = tuple(int(s) for s in image_size)
        except TypeError:
            size = ()
    if len(size) != 2 or min(size) < 1:
        raise ValueError(
            "image_size must be a positive int or a (height, width) pair. "
            f"Received: image_size={image_size!r}"
        )
    return size


def check_resize_mode(resize_mode):
    if resize_mode not in RESIZE_MODES:
        raise ValueError(
            f"resize_mode must be one of {RESIZE_MODES}. Received: resize_mode={resize_mode!r}"
        )


def _orient(image, orientation):
    """Applies an EXIF orientation (1-8) to a decoded [H, W, C] image."""

    def transpose(x):
        return tf.transpose(x, [1, 0, 2])

    branches = [
        lambda: image,  # 0: invalid value, treat as upright
        lambda: image,  # 1: upright
        lambda: tf.image.flip_left_right(image),  # 2: mirrored
        lambda: tf.image.rot90(image, 2),  # 3: rotated 180
        lambda: tf.image.flip_up_down(image),  # 4: mirrored vertically
        lambda: transpose(image),  # 5: transposed
        lambda: tf.image.rot90(image, 3),  # 6: stored rotated 90 CCW, turn clockwise
        lambda: tf.image.rot90(transpose(image), 2),  # 7: transverse
        lambda: tf.image.rot90(image, 1),  # 8: stored rotated 90 CW, turn counter-clockwise
    ]
    index = tf.where((orientation >= 1) & (orientation <= 8), orientation, 0)
    return tf.switch_case(tf.cast(index, tf.int32), branches)


def _crop_window(height, width, target_h, target_w):
    """Centre window [y, x, h, w] of (height, width) with the aspect of the target."""
    height = tf.cast(height, tf.float64)
    width = tf.cast(width, tf.float64)
    aspect = tf.cast(target_w, tf.float64) / tf.cast(target_h, tf.float64)
    crop_w = tf.minimum(width, tf.round(height * aspect))
    crop_h = tf.minimum(height, tf.round(width / aspect))
    crop_w = tf.maximum(crop_w, 1.0)
    crop_h = tf.maximum(crop_h, 1.0)
    y = tf.floor((height - crop_h) / 2)
    x = tf.floor((width - crop_w) / 2)
    return tf.cast(tf.stack([y, x, crop_h, crop_w]), tf.int32)


def _jpeg_plan(height, width, target_h, target_w, transposed, crop):
    """The stored-frame decode window and the libjpeg scale ratio (1, 2, 4 or 8) for a JPEG.

    Element-wise on tensors, so the pipeline can also plan a whole dataset at once
    from the sizes its checks recorded.
    """
    # In the stored frame the target is transposed when EXIF says the image is.
    t_h = tf.where(transposed, target_w, target_h)
    t_w = tf.where(transposed, target_h, target_w)
    if crop:
        window = _crop_window(height, width, t_h, t_w)
    else:
        window = tf.stack([tf.zeros_like(height), tf.zeros_like(width), height, width])
    # Largest libjpeg scale factor that still leaves the window >= the target.
    room = tf.minimum(window[2] // t_h, window[3] // t_w)
    ratio = tf.where(room >= 8, 8, tf.where(room >= 4, 4, tf.where(room >= 2, 2, 1)))
    return window, ratio


def jpeg_scale_ratios(heights, widths, image_size, *, orientations=None, resize_mode="crop"):
    """The DCT scale ratio :func:`decode_image` picks for JPEGs of these stored sizes."""
    target_h, target_w = normalize_image_size(image_size)
    heights = tf.constant(heights, tf.int32)
    orientations = tf.constant(orientations if orientations is not None else [1] * len(heights), tf.int32)
    transposed = (orientations >= 5) & (orientations <= 8)
    _, ratio = _jpeg_plan(heights, tf.constant(widths, tf.int32), target_h, target_w, transposed, resize_mode == "crop")
    return ratio.numpy().tolist()


def _decode_jpeg_crop(contents, target_h, target_w, transposed, crop, ratio=None):
    """JPEG fast path: decode only the needed window, DCT-downscaled when large.

    ``ratio``: a known scale ratio for this input (skips choosing it in the graph).
    """
    shape = tf.image.extract_jpeg_shape(contents)
    height, width = shape[0], shape[1]
    window, planned = _jpeg_plan(height, width, target_h, target_w, transposed, crop)

    def decode(ratio):
        def fn():
            if ratio == 1:
                scaled = window
            else:
                # libjpeg scales the whole image to ceil(dim / ratio); the window is in that frame.
                top = window[0] // ratio
                left = window[1] // ratio
                scaled_h = (height + ratio - 1) // ratio
                scaled_w = (width + ratio - 1) // ratio
                h = tf.minimum(tf.maximum(window[2] // ratio, 1), scaled_h - top)
                w = tf.minimum(tf.maximum(window[3] // ratio, 1), scaled_w - left)
                scaled = tf.stack([top, left, h, w])
            return tf.io.decode_and_crop_jpeg(contents, scaled, channels=3, ratio=ratio)

        return fn

    if ratio is not None:
        return decode(ratio)()
    ratio_index = tf.where(planned >= 8, 3, tf.where(planned >= 4, 2, tf.where(planned >= 2, 1, 0)))
    return tf.switch_case(ratio_index, [decode(1), decode(2), decode(4), decode(8)])


def _resize(image, target_h, target_w, pad, antialias):
    if pad:
        return tf.image.resize_with_pad(image, target_h, target_w, antialias=antialias)
    return tf.image.resize(image, (target_h, target_w), antialias=antialias)


def _resize_any(image, target_h, target_w, pad):
    """Bilinear resize; anti-aliased only when shrinking by more than 2x.

    Below 2x plain bilinear sampling loses nothing visible and is twice as fast.
    """
    shape = tf.cast(tf.shape(image), tf.float32)
    factor = tf.maximum(shape[0] / target_h, shape[1] / target_w)
    return tf.cond(
        factor > 2.0,
        lambda: _resize(image, target_h, target_w, pad, True),
        lambda: _resize(image, target_h, target_w, pad, False),
    )


def _maybe_orient(image, orientation):
    if orientation is None:
        return image
    return tf.cond(orientation == 1, lambda: image, lambda: _orient(image, orientation))


def fit_image(image, image_size, *, resize_mode="crop"):
    """Fits a decoded ``[H, W, 3]`` image to ``image_size`` as :func:`decode_image` does.

    The crop window (``"crop"``), padding (``"pad"``) or stretch, and the resize, are the
    ones decoded files get: in-memory images (arrays, PIL images) go through this.

    Args:
        image: ``[H, W, 3]`` tensor, uint8 or float in [0, 255].
        image_size: int or ``(height, width)``.
        resize_mode: ``"crop"``, ``"pad"`` or ``"stretch"``.

    Returns:
        A float32 tensor ``[height, width, 3]``.

    Example:
        >>> fit_image(tf.zeros([480, 640, 3]), 224).shape
        TensorShape([224, 224, 3])
    """
    target_h, target_w = normalize_image_size(image_size)
    check_resize_mode(resize_mode)
    if resize_mode == "crop":
        shape = tf.shape(image)
        window = _crop_window(shape[0], shape[1], target_h, target_w)
        image = image[window[0] : window[0] + window[2], window[1] : window[1] + window[3]]
    image = tf.cast(_resize_any(image, target_h, target_w, resize_mode == "pad"), tf.float32)
    image.set_shape([target_h, target_w, 3])
    return image


def decode_image(
    contents, image_size, *, resize_mode="crop", orientation=1, image_format=None, jpeg_ratio=None, max_pixels=None
):
    """Decodes encoded image bytes to an upright float32 RGB image of ``image_size``.

    Works on a scalar string tensor inside ``tf.data.Dataset.map`` and inside a
    ``tf.function`` serving signature (``tf.map_fn`` over a batch). Handles JPEG
    (including CMYK and grayscale), PNG (palette, grayscale, RGBA with alpha
    dropped, 16-bit scaled to 8-bit), GIF (first frame), BMP and WebP.

    Args:
        contents: scalar ``tf.string`` with the encoded file bytes.
        image_size: int or ``(height, width)``.
        resize_mode: ``"crop"``, ``"pad"`` or ``"stretch"`` (see the module docstring).
        orientation: EXIF orientation 1-8 (scalar int tensor or int), applied after
            decoding; ``None`` when every image is known to be upright (skips the step).
        image_format: ``"jpeg"`` when every input is known to be a JPEG (skips the
            format test; the pipeline knows this from the dataset's checks), else ``None``.
        jpeg_ratio: with ``image_format="jpeg"``, the DCT scale ratio every input
            needs (see :func:`jpeg_scale_ratios`); skips choosing it per image.
        max_pixels: refuse, before decoding, an image whose header declares more pixels
            (INVALID_ARGUMENT naming the size and the limit); ``None`` when the inputs were
            checked already (a dataset's files).

    Returns:
        A float32 tensor ``[height, width, 3]`` with pixel values in [0, 255].

    Example:
        >>> data = tf.io.read_file("cat.jpg")
        >>> decode_image(data, 224).shape
        TensorShape([224, 224, 3])
    """
    target_h, target_w = normalize_image_size(image_size)
    check_resize_mode(resize_mode)
    if image_format not in (None, "jpeg"):
        raise ValueError(f"image_format must be None or 'jpeg'. Received: image_format={image_format!r}")
    if orientation is None:
        transposed = tf.constant(False)
    else:
        orientation = tf.cast(orientation, tf.int32)
        transposed = (orientation >= 5) & (orientation <= 8)
    pad = resize_mode == "pad"
    if max_pixels is not None:
        with tf.control_dependencies([check_pixels(contents, max_pixels)]):
            contents = tf.identity(contents)

    def jpeg():
        # Decoded straight into the crop window, DCT-downscaled so that less than 2x
        # shrinking remains: plain bilinear resizing is enough.
        ratio = jpeg_ratio if image_format == "jpeg" else None
        image = _decode_jpeg_crop(contents, target_h, target_w, transposed, crop=resize_mode == "crop", ratio=ratio)
        image = _maybe_orient(image, orientation)
        return _resize(image, target_h, target_w, pad, antialias=False)

    def other():
        image = tf.io.decode_image(contents, channels=3, expand_animations=False, dtype=tf.uint8)
        image.set_shape([None, None, 3])
        return fit_image(_maybe_orient(image, orientation), (target_h, target_w), resize_mode=resize_mode)

    if image_format == "jpeg":
        image = jpeg()
    else:
        image = tf.cond(tf.io.is_jpeg(contents), jpeg, other)
    image.set_shape([target_h, target_w, 3])
    return image

"""An encoded image's size, read from its header in the graph, before anything is decoded.

A 1 MB PNG can declare 20,000 x 20,000 pixels: decoding it allocates 1.2 GB. Datasets refuse
such files when they are checked (:mod:`keras_cvcls.data.image_check`, with Pillow); a serving
signature receives bytes from anyone, so it reads the declared size with TensorFlow ops and
refuses the image before decoding (:func:`keras_cvcls.data.decode.decode_image`'s
``max_pixels``).

The sizes are the ones TensorFlow's decoders allocate for: JPEG's frame (``extract_jpeg_shape``),
PNG's IHDR, GIF's logical screen, BMP's info header (int32 at offsets 18 and 22, as
``decode_bmp`` reads it) and WebP's VP8, VP8L or VP8X canvas.
"""

import tensorflow as tf

_HEAD_BYTES = 32


def _starts(head, prefix, at=0):
    return tf.equal(tf.strings.substr(head, at, len(prefix), unit="BYTE"), prefix)


def encoded_image_size(contents):
    """The ``(height, width)`` an image's header declares, as int64 scalars.

    Args:
        contents: scalar ``tf.string`` with the encoded file bytes.

    Returns:
        ``(height, width)``; ``(0, 0)`` for bytes that are not JPEG, PNG, GIF, BMP or WebP
        (their decoding fails with TensorFlow's own message).

    Example:
        >>> encoded_image_size(tf.io.read_file("cat.png"))
        (<tf.Tensor: ... numpy=480>, <tf.Tensor: ... numpy=640>)
    """
    contents = tf.convert_to_tensor(contents, tf.string)
    head = tf.strings.substr(contents, 0, _HEAD_BYTES, unit="BYTE")  # shorter input: shorter head
    head = tf.strings.substr(tf.strings.join([head, b"\0" * _HEAD_BYTES]), 0, _HEAD_BYTES, unit="BYTE")
    data = tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int64)

    def little(at, count):
        return sum(data[at + i] * (1 << (8 * i)) for i in range(count))

    def big(at, count):
        return sum(data[at + i] * (1 << (8 * (count - 1 - i))) for i in range(count))

    def signed32(value):
        value = tf.where(value >= 1 << 31, value - (1 << 32), value)
        return tf.abs(value)  # a negative BMP height means rows stored top-down

    vp8l = little(21, 4)
    formats = [
        (_starts(head, b"\x89PNG\r\n\x1a\n") & _starts(head, b"IHDR", 12), big(20, 4), big(16, 4)),
        (_starts(head, b"GIF8"), little(8, 2), little(6, 2)),
        (_starts(head, b"BM"), signed32(little(22, 4)), signed32(little(18, 4))),
        (
            _starts(head, b"RIFF") & _starts(head, b"WEBPVP8 ", 8),
            little(28, 2) % (1 << 14),
            little(26, 2) % (1 << 14),
        ),
        (
            _starts(head, b"RIFF") & _starts(head, b"WEBPVP8L", 8),
            (vp8l // (1 << 14)) % (1 << 14) + 1,
            vp8l % (1 << 14) + 1,
        ),
        (_starts(head, b"RIFF") & _starts(head, b"WEBPVP8X", 8), little(27, 3) + 1, little(24, 3) + 1),
    ]
    height = width = tf.constant(0, tf.int64)
    for matches, h, w in reversed(formats):
        height, width = tf.where(matches, h, height), tf.where(matches, w, width)

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(contents), tf.int64)
        return shape[0], shape[1]

    return tf.cond(tf.io.is_jpeg(contents), jpeg, lambda: (height, width))


def check_pixels(contents, max_pixels):
    """An assertion op: the image's declared pixels are at most ``max_pixels``.

    Fails with INVALID_ARGUMENT naming the size and the limit, before any decoding.

    Args:
        contents: scalar ``tf.string`` with the encoded file bytes.
        max_pixels: the largest ``width * height`` accepted.

    Returns:
        The assertion op, for ``tf.control_dependencies``.
    """
    height, width = encoded_image_size(contents)
    fits = (height <= max_pixels) & (width <= max_pixels) & (height * width <= max_pixels)
    message = tf.strings.format(
        "Image too large: {}x{} = {} pixels exceeds max_pixels={} (possible decompression bomb)",
        [width, height, width * height, tf.constant(max_pixels, tf.int64)],
    )
    return tf.debugging.Assert(fits, [message])

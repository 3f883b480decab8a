"""Duplicate detection: exact (sha256 of the bytes) and near (64-bit difference hash)."""

import hashlib

from keras_cvcls.data.upright_image import open_upright


def sha256_file(path):
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dhash(path, *, hash_size=8):
    """Difference hash: 64 bits of "is this pixel brighter than its right neighbour" on a 9x8 thumbnail.

    Robust to re-encoding, resizing and small colour changes; EXIF orientation
    is applied first. Returns ``None`` for images Pillow cannot reduce to grey.

    Returns:
        The hash as a 16-digit hex string, or ``None``.
    """
    import numpy as np
    from PIL import Image

    try:
        grey = open_upright(path, mode="L", draft_size=(4 * hash_size, 4 * hash_size))
        small = grey.resize((hash_size + 1, hash_size), Image.Resampling.BOX)
    except (OSError, ValueError, SyntaxError):
        return None
    pixels = np.asarray(small, dtype=np.int16)
    bits = (pixels[:, 1:] > pixels[:, :-1]).flatten()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):0{hash_size * hash_size // 4}x}"


class DuplicateIndex:
    """The images kept so far, by sha256 and by difference hash.

    Args:
        near_distance: largest Hamming distance (of 64 bits) between difference
            hashes that still counts as a near-duplicate; ``None`` to match exact
            copies only.
    """

    def __init__(self, near_distance=None):
        import numpy as np  # imported on use: the command line reads this package for its --help

        self.near_distance = near_distance
        self._by_sha = {}
        self._hashes = np.zeros(64, np.uint64)
        self._files = []

    def add(self, file, sha256, dhash_hex=None):
        import numpy as np

        self._by_sha.setdefault(sha256, file)
        if dhash_hex:
            if len(self._files) == len(self._hashes):
                self._hashes = np.concatenate([self._hashes, np.zeros_like(self._hashes)])
            self._hashes[len(self._files)] = np.uint64(int(dhash_hex, 16))
            self._files.append(file)

    def find(self, sha256, dhash_hex=None):
        """Returns ``(file, distance)`` of a kept duplicate (distance 0 for exact copies), or ``None``."""
        if sha256 in self._by_sha:
            return self._by_sha[sha256], 0
        if self.near_distance is None or not dhash_hex or not self._files:
            return None
        import numpy as np

        distances = np.bitwise_count(self._hashes[: len(self._files)] ^ np.uint64(int(dhash_hex, 16)))
        best = int(np.argmin(distances))
        if distances[best] <= self.near_distance:
            return self._files[best], int(distances[best])
        return None

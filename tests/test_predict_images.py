"""Prediction on raw images, in process: paths, URLs, bytes, PIL images and arrays (issue 11, item 2)."""

import functools
import http.server
import io
import json
import threading

import numpy as np
import pytest
from PIL import Image

from keras_cvcls.cli.main import main
from keras_cvcls.export import export_for_serving
from keras_cvcls.models import ImageClassifier
from keras_cvcls.serving import ModelServer, ScoringClient, ScoringResult

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (the test extra) provides the sample photos")
LABELS = ["tabby", "egyptian_cat"]
CAT = skimage_data.chelsea()[:, :450]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Real photos as JPEG files: landscape, portrait (turned by EXIF) and a PNG."""
    base = tmp_path_factory.mktemp("photos")
    cat = base / "cat.jpg"
    # 450 x 300: the centre crop starts at a whole pixel in either orientation (451 would leave
    # half a pixel to round one way upright and the other way when stored on its side).
    Image.fromarray(CAT).save(cat, quality=92)
    coffee = base / "coffee.png"
    Image.fromarray(skimage_data.coffee()).save(coffee)
    # Stored on its side with EXIF orientation 6: it must be turned upright before resizing.
    rotated = base / "rotated.jpg"
    exif = Image.Exif()
    exif[274] = 6
    Image.fromarray(np.rot90(CAT, 1).copy()).save(rotated, quality=92, exif=exif)
    return {"cat": str(cat), "coffee": str(coffee), "rotated": str(rotated)}


@pytest.fixture(scope="module")
def model():
    """A 2-label model whose scores follow real content: its head is ImageNet's cat vs espresso logits."""
    from keras_cvcls.models.backbone_registry import _REGISTRY
    from keras_cvcls.models.imagenet_weights import packaged_weights as _packaged_weights
    from keras_cvcls.models.efficientnet_lite import imagenet_classifier_weights
    from keras_cvcls.models.torch_checkpoint import read_torch_state_dict

    kernel, bias = imagenet_classifier_weights(
        read_torch_state_dict(_packaged_weights("efficientnet_lite0", _REGISTRY["efficientnet_lite0"]))
    )
    classifier = ImageClassifier(LABELS, image_size=128)
    classifier.get_layer("predictions").set_weights([kernel[:, [281, 285]], bias[[281, 285]]])  # tabby vs Egyptian cat: fine-grained, so orientation shows
    return classifier


def test_every_kind_of_input_gives_the_same_scores(model, photos):
    path = photos["cat"]
    data = open(path, "rb").read()
    expected = model.predict_images(path)
    assert expected.shape == (1, 2) and np.allclose(expected.sum(), 1, atol=1e-5)
    np.testing.assert_allclose(model.predict_images(data), expected, atol=1e-6)
    np.testing.assert_allclose(model.predict_images([path, data])[1], expected[0], atol=1e-6)
    # In-memory pixels go through the crop and resize a PNG file of the same pixels gets.
    pixels = skimage_data.coffee()
    png = open(photos["coffee"], "rb").read()
    np.testing.assert_allclose(model.predict_images(pixels), model.predict_images(png), atol=1e-6)
    np.testing.assert_allclose(model.predict_images(Image.fromarray(pixels)), model.predict_images(png), atol=1e-6)
    np.testing.assert_allclose(model.predict_images(pixels[None]), model.predict_images(pixels), atol=1e-6)


def test_exif_orientation_is_applied(photos):
    """The sideways copy with EXIF orientation 6 reaches the model upright, as in training."""
    from keras_cvcls.data.image_inputs import load_images

    upright = load_images(photos["cat"], 96)
    sideways = load_images(np.rot90(CAT, 1).copy(), 96)
    wrong = np.abs(sideways - upright).mean()
    assert wrong > 20
    for turned in (load_images(photos["rotated"], 96), load_images(Image.open(photos["rotated"]), 96)):
        # Not equal: the turned copy is another JPEG encoding, and the DCT-downscaled crop of
        # a file stored sideways rounds its window half a scaled pixel the other way.
        assert np.abs(turned - upright).mean() < wrong / 3


def test_url_through_the_hardened_fetcher(model, photos, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    folder = str(__import__("os").path.dirname(photos["cat"]))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=folder)
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cat.jpg"
        # Loopback is the user's own machine: refused unless allowed.
        with pytest.raises(ValueError, match=r"Image 0 .*could not fetch it: refused: 127\.0\.0\.1 is a loopback address.*allow_private_addresses=True"):
            model.predict_images(url)
        own = {"allow_private_addresses": True}
        np.testing.assert_allclose(model.predict_images(url, **own), model.predict_images(photos["cat"]), atol=1e-6)
        with pytest.raises(ValueError, match=r"Image 0 .*missing\.jpg.*could not fetch it.*404"):
            model.predict_images(f"http://127.0.0.1:{server.server_address[1]}/missing.jpg", **own)
    finally:
        server.shutdown()


def test_classify_returns_the_scoring_clients_result_type_and_matches_the_served_model(model, photos, tmp_path):
    results = model.classify([photos["cat"], photos["coffee"]])
    assert all(isinstance(r, ScoringResult) for r in results)
    assert [r.label for r in results] == [LABELS[int(np.argmax(r.scores))] for r in results]
    assert results[0].labels == tuple(LABELS)
    export_for_serving(model, str(tmp_path / "models" / "m"))
    with ModelServer(str(tmp_path / "models" / "m"), "m", rest_port=0, grpc_port=0, host="127.0.0.1") as server:
        served = ScoringClient(url=server.rest_url, model_name="m").score_images([photos["cat"], photos["coffee"]])
    np.testing.assert_allclose([r.scores for r in served], [r.scores for r in results], atol=1e-5)


@pytest.mark.parametrize(
    "bad, match",
    [
        ("/no/such/photo.jpg", r"Image 0 .*no such file"),
        (b"<html>not a photo</html>", r"Image 0 .*not an image"),
        (3.5, r"Expected a path, an http\(s\) URL, bytes, a PIL image or a numpy array.*Received: images\[0\] of type float"),
        (np.zeros((4, 4, 7)), r"expected an \[H, W, 3\] RGB"),
        (np.full((8, 8, 3), np.nan), r"NaN"),
        ([], r"at least one image"),
    ],
)
def test_bad_input_is_a_clear_error(model, bad, match):
    with pytest.raises(ValueError, match=match):
        model.predict_images(bad)


def test_decompression_bomb_is_refused(model):
    buf = io.BytesIO()
    Image.new("L", (12000, 8000)).save(buf, "PNG")  # 96 MP, a few kB on disk
    with pytest.raises(ValueError, match="too large"):
        model.predict_images(buf.getvalue())


def test_cli_predict(model, photos, tmp_path, capsys):
    run = str(tmp_path / "model")
    model.save(run)
    assert main(["predict", run, photos["cat"], photos["coffee"], "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = model.predict_images([photos["cat"], photos["coffee"]])
    assert [r["image"] for r in out["results"]] == [photos["cat"], photos["coffee"]]
    np.testing.assert_allclose([r["scores"] for r in out["results"]], expected, atol=1e-5)
    assert main(["predict", run, photos["cat"]]) == 0
    assert capsys.readouterr().out.startswith(f"{photos['cat']}: ")
    assert main(["predict", run, str(tmp_path / "nope.jpg")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "Traceback" not in err

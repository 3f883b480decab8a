"""The browser UI as an aiohttp application: annotation, results and precision/recall views.

The dataset is read once, when the application is created (image checks are
cached in ``ROOT/.keras_cvcls/checks.json``, so a restart is quick); listings
are served from memory, one page per request, and never touch the image files.
Thumbnails are made on first request and cached on disk, in the user's private
cache (see :mod:`keras_cvcls.ui.thumbnails`). Label fixes go
through :meth:`ClassificationDataset.relabel` / :meth:`~ClassificationDataset.exclude`,
so they land in the dataset's sidecar at once and the next ``from_directory``
sees them.

The server answers only requests addressed to its own host names, and takes
changes (every POST) only with the session's token, which the page it serves
carries: see :mod:`keras_cvcls.ui.request_guards`. It serves no file that a link
in the dataset folder leads to outside that folder.

JSON API (every error is ``{"error": message}`` with a 4xx/5xx status; POSTs need the
``X-Keras-Cvcls-Token`` header):

* ``GET /api/info`` - dataset name, labels, counts, page size, the results source, run links
* ``GET /api/images?label=&status=&q=&page=&page_size=`` - one page of the annotation grid
* ``POST /api/relabel`` ``{"id", "label"}``, ``POST /api/exclude`` ``{"id", "excluded"}``
* ``POST /api/reload`` - re-read the label-fix sidecar
* ``GET /api/thumb?id=``, ``GET /api/image?id=`` - a thumbnail (JPEG), the original file
* ``GET /api/results?show=&sort=&label=&predicted=&page=&page_size=`` - one page of test results
* ``GET /api/pr`` - precision/recall curves; ``GET /api/pr/at?threshold=`` - the numbers at a threshold
* ``GET /report`` - the HTML evaluation report (``?refresh=1`` to rebuild it)
* ``GET /api/review`` - the findings to review; ``POST /api/review`` ``{"id", "action", "kind"}``
  (accept, keep or exclude); ``POST /api/review/undo`` (see :mod:`keras_cvcls.ui.review`)
* ``GET /api/new`` - photos suggested for labelling; ``GET /api/new/image?index=``;
  ``POST /api/new/label`` ``{"index", "label"}`` (see :mod:`keras_cvcls.ui.new_photos`)
"""

import asyncio
import functools
import html
import json
import logging
import math
import os
import shlex
import shutil
import tempfile
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from keras_cvcls.data import ClassificationDataset
from keras_cvcls.data.links import is_within
from keras_cvcls.ui.request_guards import RequestGuard
from keras_cvcls.ui.thumbnails import ThumbnailCache

log = logging.getLogger(__name__)

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
STATUS_MODES = ("all", "included", "excluded", "relabeled")
MAX_PAGE_SIZE = 500
TENSORBOARD_URL = "http://localhost:6006"
NO_CACHE = {"Cache-Control": "no-cache"}
TOKEN_PLACEHOLDER = "__KERAS_CVCLS_TOKEN__"  # in static/index.html, replaced by the session's token


def _json_error(status, message):
    """An aiohttp HTTP exception with a ``{"error": message}`` body."""
    classes = {
        400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound, 415: web.HTTPUnsupportedMediaType
    }
    cls = classes.get(status, web.HTTPInternalServerError)
    return cls(text=json.dumps({"error": message}), content_type="application/json")


@web.middleware
async def _errors_as_json(request, handler):
    try:
        return await handler(request)
    except ValueError as e:  # bad input named by the library's own message
        raise _json_error(400, str(e)) from None
    except OSError as e:  # e.g. a read-only sidecar
        raise _json_error(500, str(e)) from None


def _int_param(query, name, default, low, high):
    text = query.get(name)
    if text in (None, ""):
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer. Received: {name}={text!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}. Received: {name}={value}")
    return value


def _page(rows, query, default_size):
    """Slices ``rows`` to the page asked for; a page past the end gives the last one."""
    size = _int_param(query, "page_size", default_size, 1, MAX_PAGE_SIZE)
    total = len(rows)
    pages = max(1, math.ceil(total / size))
    page = min(_int_param(query, "page", 1, 1, 10**9), pages)
    start = (page - 1) * size
    return rows[start : start + size], {"total": total, "page": page, "pages": pages, "page_size": size}


def _quote(image_id):
    return urllib.parse.quote(image_id, safe="")


class _Catalog:
    """Every image of the dataset (excluded ones too) with its current label, kept in memory."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.version = 0
        self.reload()

    def reload(self):
        images, excluded = self.dataset.images, self.dataset.excluded
        self.records = sorted([*images, *excluded], key=lambda r: (r.original_label, r.id))
        self.by_id = {r.id: r for r in self.records}
        # An excluded image keeps the label it was fixed to (shown again if it is included again).
        self.label = {r.id: r.label for r in [*images, *excluded]}
        self.excluded = {r.id for r in excluded}
        self._changed()

    def relabel(self, image_id, label):
        self.dataset.relabel(image_id, label)
        self.label[image_id] = label
        self._changed()

    def toggle(self, image_id, label):
        """Multi-label: adds or removes one label of an image (MultiLabelDataset.toggle_label)."""
        self.label[image_id] = self.dataset.toggle_label(image_id, label)
        self._changed()

    def exclude(self, image_id, excluded):
        self.dataset.exclude(image_id, excluded)
        (self.excluded.add if excluded else self.excluded.discard)(image_id)
        self._changed()

    def _changed(self):
        self.version += 1
        self._views = {}

    def item(self, record):
        label = self.label[record.id]
        return {
            "id": record.id,
            "name": record.name,
            "label": label,
            "original_label": record.original_label,
            "excluded": record.id in self.excluded,
            "relabeled": label != record.original_label,
            "width": record.width,
            "height": record.height,
            "thumb": "/api/thumb?id=" + _quote(record.id),
            "image": "/api/image?id=" + _quote(record.id),
        }

    def counts(self):
        if "counts" not in self._views:
            counts = {label: 0 for label in self.dataset.labels}
            for r in self.records:
                if r.id not in self.excluded:
                    for name in self.label[r.id] if self.dataset.multi_label else [self.label[r.id]]:
                        counts[name] += 1
            relabeled = sum(1 for r in self.records if self.label[r.id] != r.original_label)
            self._views["counts"] = {
                "counts": counts,
                "num_images": len(self.records) - len(self.excluded),
                "num_excluded": len(self.excluded),
                "num_relabeled": relabeled,
            }
        return self._views["counts"]

    def select(self, label=None, status="all", query=""):
        """Records matching the filters, in folder order; cached until the next change."""
        if status not in STATUS_MODES:
            raise ValueError(f"status must be one of {STATUS_MODES}. Received: status={status!r}")
        if label and label not in self.dataset.labels:
            raise ValueError(f"Unknown label. Expected one of {self.dataset.labels}. Received: label={label!r}")
        key = ("select", label or None, status, query.lower())
        if key not in self._views:
            if len(self._views) > 64:  # many searches typed since the last change
                self._views = {}
            needle = query.lower()
            rows = []
            for r in self.records:
                if label and (label not in self.label[r.id] if self.dataset.multi_label else self.label[r.id] != label):
                    continue
                excluded = r.id in self.excluded
                if (status == "included" and excluded) or (status == "excluded" and not excluded):
                    continue
                if status == "relabeled" and self.label[r.id] == r.original_label:
                    continue
                if needle and needle not in r.id.lower():
                    continue
                rows.append(r)
            self._views[key] = rows
        return self._views[key]


class _UIState:
    """The application's state and request handlers."""

    def __init__(self, dataset, results, *, page_size, thumb_size, thumb_cache_dir, allowed_hosts, issues=None,
                 suggestions=None):
        from keras_cvcls.ui.new_photos import NewPhotos
        from keras_cvcls.ui.review import Review

        self.dataset = dataset
        self.catalog = _Catalog(dataset)
        self.review = Review(issues, self.catalog) if issues is not None else None
        self.new_photos = NewPhotos(suggestions, self.catalog) if suggestions is not None else None
        self.page_size = page_size
        self.guard = RequestGuard(allowed_hosts)
        self.thumbs = ThumbnailCache.for_dataset(dataset.root, thumb_size, cache_dir=thumb_cache_dir)
        self.thumb_pool = ThreadPoolExecutor(min(4, os.cpu_count() or 1), thread_name_prefix="keras-cvcls-thumbs")
        self.work_pool = ThreadPoolExecutor(1, thread_name_prefix="keras-cvcls-ui")
        self.results = results
        self.run = results.run if results is not None else None
        self._report_dir = None  # a temporary folder for the report when there is no run folder
        self._results_future = None
        self._report_version = None
        self._report_lock = None

    # ------------------------------------------------------------ life cycle
    async def on_startup(self, app):
        self._report_lock = asyncio.Lock()
        if self.results is not None:
            self._start_results()

    async def on_cleanup(self, app):
        self.thumb_pool.shutdown(wait=False, cancel_futures=True)
        self.work_pool.shutdown(wait=False, cancel_futures=True)
        if self._report_dir is not None:
            shutil.rmtree(self._report_dir, ignore_errors=True)

    def _start_results(self):
        future = asyncio.get_running_loop().run_in_executor(self.work_pool, self.results.load)

        def report(f):
            if not f.cancelled() and f.exception() is not None:
                log.error("Scoring the images failed: %s", f.exception())

        future.add_done_callback(report)
        self._results_future = future

    async def _loaded_results(self):
        if self.results is None:
            raise _json_error(
                404, "No results: start the UI with --run RUN_DIR or --model MODEL_DIR (or run=, model= or "
                "scores= in show())."
            )
        if self._results_future is None:
            self._start_results()
        try:
            await asyncio.shield(self._results_future)
        except ValueError:
            raise
        except Exception as e:  # noqa: BLE001 - reported to the page, with its message
            raise _json_error(500, f"Scoring the images failed: {type(e).__name__}: {e}") from None
        return self.results

    # ---------------------------------------------------------------- helpers
    async def _body(self, request):
        if request.content_type != "application/json":
            # Cross-site forms cannot send JSON without a CORS preflight, which this server never allows.
            raise _json_error(415, f"Send JSON (Content-Type: application/json). Received: {request.content_type!r}")
        try:
            body = await request.json()
        except ValueError:
            raise ValueError("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ValueError(f"The request body must be a JSON object. Received: {type(body).__name__}")
        return body

    def _record(self, image_id):
        record = self.catalog.by_id.get(image_id) if isinstance(image_id, str) else None
        if record is None:
            raise _json_error(404, f"No such image in the dataset. Received: id={image_id!r}")
        return record

    def _results_info(self):
        if self.results is None:
            return None
        return {"source": self.results.source, "name": self.results.name, "report_url": "/report"}

    def _run_info(self):
        if self.run is None:
            return None
        logs = self.run.logs_dir
        return {
            "run_dir": self.run.run_dir,
            "name": self.run.name,
            "logs_dir": logs,
            "logs_exist": os.path.isdir(logs),
            "tensorboard_command": f"tensorboard --logdir {shlex.quote(logs)}",
            "tensorboard_url": TENSORBOARD_URL,
            "report_url": "/report",
        }

    # --------------------------------------------------------------- handlers
    async def index(self, request):
        with open(os.path.join(STATIC_DIR, "index.html"), encoding="utf-8") as f:
            page = f.read().replace(TOKEN_PLACEHOLDER, html.escape(self.guard.token))
        # no-store: the page holds the session's token.
        return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def static(self, request):
        name = request.match_info["name"]
        path = os.path.join(STATIC_DIR, name)
        if "/" in name or "\\" in name or name.startswith(".") or not os.path.isfile(path):
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers=NO_CACHE)

    async def info(self, request):
        return web.json_response(
            {
                "name": self.dataset.name,
                "root": self.dataset.root,
                "labels": list(self.dataset.labels),
                "multi_label": self.dataset.multi_label,
                **self.catalog.counts(),
                "num_skipped": sum(1 for s in self.dataset.skipped if s.error),
                "page_size": self.page_size,
                "results": self._results_info(),
                "run": self._run_info(),
                "review": self.review.info() if self.review is not None else None,
                "new_photos": self.new_photos.info() if self.new_photos is not None else None,
            }
        )

    def _review(self):
        if self.review is None:
            raise _json_error(404, "No findings to review: start the UI with --issues FILE (or issues= in create_app).")
        return self.review

    async def review_list(self, request):
        review = self._review()
        return web.json_response({"items": review.items(), **review.info(), "can_undo": bool(review.undo_stack)})

    async def review_decide(self, request):
        body = await self._body(request)
        review = self._review()
        image_id, kind = body.get("id"), body.get("kind")
        self._record(image_id)
        item = review.decide(image_id, body.get("action"), kind)
        if self.results is not None:
            self.results.invalidate()
        return web.json_response({"item": item, "can_undo": bool(review.undo_stack), **self.catalog.counts()})

    def _new_photos(self):
        if self.new_photos is None:
            raise _json_error(
                404, "No photos to label: start the UI with --suggestions FILE (what `keras-cvcls dataset suggest "
                "--json` printed)."
            )
        return self.new_photos

    async def new_list(self, request):
        new = self._new_photos()
        return web.json_response({"items": new.items(), **new.info()})

    async def new_image(self, request):
        new = self._new_photos()
        path = new.path(_int_param(request.query, "index", -1, 0, 10**9))
        if not os.path.isfile(path):
            raise _json_error(404, f"The photo is gone: {path}")
        return web.FileResponse(path, headers=NO_CACHE)

    async def new_label(self, request):
        body = await self._body(request)
        item = self._new_photos().label(body.get("index"), body.get("label"))
        if self.results is not None:
            self.results.invalidate()
        return web.json_response({"item": item, **self._new_photos().info(), **self.catalog.counts()})

    async def review_undo(self, request):
        review = self._review()
        item = review.undo()
        if item is None:
            raise ValueError("Nothing to undo.")
        if self.results is not None:
            self.results.invalidate()
        return web.json_response({"item": item, "can_undo": bool(review.undo_stack), **self.catalog.counts()})

    async def images(self, request):
        q = request.query
        rows = self.catalog.select(q.get("label") or None, q.get("status") or "all", q.get("q", ""))
        page_rows, page = _page(rows, q, self.page_size)
        return web.json_response(
            {**page, "items": [self.catalog.item(r) for r in page_rows], **self.catalog.counts()}
        )

    async def relabel(self, request):
        body = await self._body(request)
        record = self._record(body.get("id"))
        label = body.get("label")
        if label not in self.dataset.labels:
            raise ValueError(f"Unknown label. Expected one of {self.dataset.labels}. Received: label={label!r}")
        self.catalog.relabel(record.id, label)
        return self._changed(record)

    async def toggle(self, request):
        body = await self._body(request)
        record = self._record(body.get("id"))
        label = body.get("label")
        if not self.dataset.multi_label:
            raise ValueError("Toggling labels is for a multi-label dataset; use /api/relabel. Received: a single-label dataset")
        if label not in self.dataset.labels:
            raise ValueError(f"Unknown label. Expected one of {self.dataset.labels}. Received: label={label!r}")
        self.catalog.toggle(record.id, label)
        return self._changed(record)

    async def exclude(self, request):
        body = await self._body(request)
        record = self._record(body.get("id"))
        excluded = body.get("excluded", True)
        if not isinstance(excluded, bool):
            raise ValueError(f"excluded must be true or false. Received: excluded={excluded!r}")
        self.catalog.exclude(record.id, excluded)
        return self._changed(record)

    def _changed(self, record):
        if self.results is not None:
            self.results.invalidate()
        return web.json_response({"item": self.catalog.item(record), **self.catalog.counts()})

    async def reload(self, request):
        self.dataset.reload_fixes()
        self.catalog.reload()
        if self.results is not None:
            self.results.invalidate()
        return web.json_response(self.catalog.counts())

    def _file(self, record):
        """The real path of an image's file; refused when a link leads out of the dataset folder."""
        real = os.path.realpath(record.path)
        root = self.dataset.root
        # A file named inside the dataset folder must be inside it (a list dataset's files may lie anywhere).
        if root is not None and is_within(record.path, root) and not is_within(real, os.path.realpath(root)):
            raise _json_error(
                403, f"{record.id} is a link to a file outside the dataset folder ({real}); the UI does not serve it."
            )
        return real

    async def thumb(self, request):
        record = self._record(request.query.get("id"))
        path = self._file(record)
        loop = asyncio.get_running_loop()
        try:
            path = await loop.run_in_executor(self.thumb_pool, self.thumbs.get, record.id, path)
        except OSError as e:
            raise _json_error(404, f"Cannot make a thumbnail of {record.id}: {e}") from None
        return web.FileResponse(path, headers=NO_CACHE)

    async def image(self, request):
        record = self._record(request.query.get("id"))
        path = self._file(record)
        if not os.path.isfile(path):
            raise _json_error(404, f"The image file is gone: {record.path}")
        return web.FileResponse(path, headers=NO_CACHE)

    async def results_page(self, request):
        results = await self._loaded_results()
        q = request.query
        rows = results.items(
            show=q.get("show") or "all", sort=q.get("sort") or "loss",
            label=q.get("label") or None, predicted=q.get("predicted") or None,
        )
        page_rows, page = _page(rows, q, self.page_size)
        items = []
        for row in page_rows:
            item = self.catalog.item(row["record"])
            # The catalog's "label" is the true label (and changes when relabelled).
            item.update({k: v for k, v in row.items() if k not in ("record", "true_label")})
            items.append(item)
        return web.json_response({**page, "items": items, "summary": results.summary()})

    async def pr_curves(self, request):
        results = await self._loaded_results()
        return web.json_response({**results.curves(), "summary": results.summary()})

    async def pr_at(self, request):
        results = await self._loaded_results()
        label_thresholds = None
        if "label_thresholds" in request.query:  # multi-label: {label: threshold}, one slider per label
            try:
                label_thresholds = json.loads(request.query["label_thresholds"])
            except ValueError:
                raise ValueError("label_thresholds must be a JSON object {label: threshold}.") from None
            if not isinstance(label_thresholds, dict):
                raise ValueError(f"label_thresholds must be a JSON object. Received: {label_thresholds!r}")
        return web.json_response(results.at_threshold(request.query.get("threshold", "0.5"), label_thresholds))

    def _report_path(self):
        if self.run is not None:
            return self.run.report_path
        if self._report_dir is None:
            self._report_dir = tempfile.mkdtemp(prefix="keras-cvcls-report-")
        return os.path.join(self._report_dir, "report.html")

    def _write_report(self, evaluation, path):
        if self.run is not None:
            return self.run.write_report(evaluation, path)
        from keras_cvcls.evaluation import write_report

        return write_report(evaluation, path, title=f"Evaluation of {self.results.name}")

    async def report(self, request):
        results = await self._loaded_results()
        path = self._report_path()
        async with self._report_lock:
            stale = self._report_version != self.catalog.version or not os.path.isfile(path)
            if stale or request.query.get("refresh") == "1":
                write = functools.partial(self._write_report, results.evaluation(), path)
                await asyncio.get_running_loop().run_in_executor(self.work_pool, write)
                self._report_version = self.catalog.version
        return web.FileResponse(path, headers=NO_CACHE)


UI_STATE = web.AppKey("keras_cvcls_ui_state", _UIState)


def create_app(
    data_dir, run_dir=None, *, model=None, scores=None, labels=None, page_size=60, thumb_size=160,
    thumb_cache_dir=None, batch_size=32, allowed_hosts=(), thresholds=None, issues=None,
    suggestions=None,
):
    """Builds the UI's aiohttp application.

    The dataset is read here, once (a large folder's first read checks every
    image; later reads use the check cache). The results and precision/recall
    views need scores, from one of three sources: ``run_dir`` (the run's test
    images, scored by its model, cached in the run folder), ``model`` (every image
    of the dataset, scored by a saved classifier) or ``scores`` (computed elsewhere,
    one row per image of the dataset). A run or model scores in a background thread
    when the application starts.

    Args:
        data_dir: a folder with one subfolder per label, a multi-label CSV (``path,labels``,
            labels joined by spaces; see :meth:`~keras_cvcls.data.MultiLabelDataset.from_csv`),
            or a :class:`~keras_cvcls.data.ClassificationDataset` or
            :class:`~keras_cvcls.data.MultiLabelDataset` (shared: fixes made in the UI change it).
            A multi-label dataset is annotated with toggle keys: ``1``-``9`` add or remove a
            label of the selected image.
        run_dir: a training run folder, or None.
        model: a saved classifier (a path :func:`~keras_cvcls.models.load_classifier` reads,
            or a classifier object), or None.
        scores: an array ``[len(dataset.images), len(labels)]`` of class probabilities, or None.
        labels: the class names of the columns of ``scores``; default: the dataset's labels.
        page_size: images per page by default (the page can ask for up to 500).
        thumb_size: longest side of thumbnails, in pixels.
        thumb_cache_dir: where thumbnails are cached (default: a folder of the user's
            private cache, ``~/.cache/keras_cvcls/thumbs/...``); it must be yours and
            writable by you only.
        batch_size: batch size for scoring.
        thresholds: with ``scores`` of a multi-label dataset: the per-label thresholds (default
            0.5 each; a run or model brings its own).
        allowed_hosts: host names the server may be reached by, besides ``localhost``,
            ``127.0.0.1``, ``::1``, its IP address and the host :class:`~keras_cvcls.ui.UIServer`
            binds (see :mod:`keras_cvcls.ui.request_guards`).
        issues: findings for the review view: a :class:`~keras_cvcls.curation.DatasetIssues` of this
            dataset, or the path of a findings file (``keras-cvcls dataset issues DIR --json``), or None.
        suggestions: photos to label into the dataset (the "Label new" view): a list of
            :class:`~keras_cvcls.curation.Suggestion`, or the path of what ``keras-cvcls dataset
            suggest --json`` printed, or None.

    Returns:
        An ``aiohttp.web.Application``; run it with ``aiohttp.web.run_app`` or
        :class:`~keras_cvcls.ui.notebook.UIServer`.

    Raises:
        ValueError: if ``data_dir`` is not a dataset folder, ``run_dir`` not a run folder,
            more than one source is given, ``labels`` comes without ``scores``, the scores'
            shape does not fit, ``page_size`` is out of range, or the thumbnail cache folder
            can be written by other users.

    Example:
        >>> from aiohttp import web
        >>> web.run_app(create_app("photos/", run_dir="runs/1"), host="127.0.0.1", port=8765)
        >>> web.run_app(create_app(test_set, scores=model.predict_scores(test_set), labels=model.labels))
    """
    from keras_cvcls.ui.results import Results

    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be an int between 1 and {MAX_PAGE_SIZE}. Received: page_size={page_size!r}")
    given = [name for name, value in (("run_dir", run_dir), ("model", model), ("scores", scores)) if value is not None]
    if len(given) > 1:
        raise ValueError(f"Give at most one of run_dir, model and scores. Received: {', '.join(given)}")
    if labels is not None and scores is None:
        raise ValueError("labels names the columns of scores; pass scores too. Received: labels without scores")
    if isinstance(data_dir, ClassificationDataset):
        dataset = data_dir
    elif isinstance(data_dir, (str, os.PathLike)) and os.fspath(data_dir).lower().endswith(".csv") and os.path.isfile(data_dir):
        from keras_cvcls.data import MultiLabelDataset

        dataset = MultiLabelDataset.from_csv(data_dir)  # multi-label: path,labels (space-separated)
    else:
        dataset = ClassificationDataset.from_directory(data_dir)
    results = None
    if run_dir is not None:
        results = Results.from_run(run_dir, dataset, batch_size=batch_size)
    elif model is not None:
        results = Results.from_classifier(model, dataset, batch_size=batch_size)
    elif scores is not None:
        results = Results.from_scores(dataset, scores, labels, thresholds=thresholds)
    state = _UIState(
        dataset, results, page_size=page_size, thumb_size=thumb_size, thumb_cache_dir=thumb_cache_dir,
        allowed_hosts=allowed_hosts, issues=issues, suggestions=suggestions,
    )
    app = web.Application(middlewares=[state.guard.middleware, _errors_as_json], client_max_size=1 << 20)
    app[UI_STATE] = state
    app.on_startup.append(state.on_startup)
    app.on_cleanup.append(state.on_cleanup)
    r = app.router
    r.add_get("/", state.index)
    r.add_get("/static/{name}", state.static)
    r.add_get("/api/info", state.info)
    r.add_get("/api/images", state.images)
    r.add_post("/api/relabel", state.relabel)
    r.add_post("/api/exclude", state.exclude)
    r.add_post("/api/toggle", state.toggle)
    r.add_post("/api/reload", state.reload)
    r.add_get("/api/thumb", state.thumb)
    r.add_get("/api/image", state.image)
    r.add_get("/api/results", state.results_page)
    r.add_get("/api/pr", state.pr_curves)
    r.add_get("/api/pr/at", state.pr_at)
    r.add_get("/report", state.report)
    r.add_get("/api/review", state.review_list)
    r.add_post("/api/review", state.review_decide)
    r.add_post("/api/review/undo", state.review_undo)
    r.add_get("/api/new", state.new_list)
    r.add_get("/api/new/image", state.new_image)
    r.add_post("/api/new/label", state.new_label)
    return app

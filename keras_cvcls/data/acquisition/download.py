"""``download_dataset``: a folder dataset (``OUT_DIR/LABEL/files``) from a cvtk query file."""

import concurrent.futures
import dataclasses
import os
import shutil
import tempfile
import threading
import time
import urllib.parse

from keras_cvcls.data.acquisition.dedupe import DuplicateIndex, dhash, sha256_file
from keras_cvcls.data.acquisition.download_options import DEDUPE_MODES, LOCAL_FILE_MODES
from keras_cvcls.data.acquisition.fetch import FetchError, FetchOptions, fetch_image, without_credentials
from keras_cvcls.data.acquisition.guarded_session import guarded_session
from keras_cvcls.data.acquisition.public_address import private_addresses_allowed
from keras_cvcls.data.acquisition.manifest import DUPLICATE, FAILED, IMAGE, MANIFEST_FILENAME, OK, SEARCH, Manifest
from keras_cvcls.data.acquisition.query_file import read_query_file
from keras_cvcls.data.acquisition.safe_paths import UnsafePathError, ensure_inside, safe_stem
from keras_cvcls.data.acquisition.search import ImageSearchProvider, JsonImageSearchProvider, SearchError
from keras_cvcls.data.image_check import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, BadImageError, check_image, is_hidden
from keras_cvcls.data.label_fixes import SIDECAR_DIRNAME
from keras_cvcls.folder_lock import FolderLock
from keras_cvcls.progress import progress_bar

# Each run's temporary files go to a folder of its own, OUT_DIR/.keras_cvcls/download-tmp-XXXX.
TMP_PREFIX = "download-tmp-"
LOCK_FILENAME = "download.lock"
# Seconds past run_timeout a worker gets to notice it before the run stops waiting for it.
_RUN_TIMEOUT_SLACK = 2.0
# File extensions written for each format; the first is the default.
_FORMAT_EXTENSIONS = {
    "JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"), "MPO": (".jpg", ".jpeg"), "PNG": (".png",),
    "GIF": (".gif",), "BMP": (".bmp",), "WEBP": (".webp",),
}


@dataclasses.dataclass
class DownloadReport:
    """What :func:`download_dataset` did.

    Attributes:
        out_dir: the dataset folder (absolute).
        manifest_path: the manifest (``OUT_DIR/.keras_cvcls/manifest.jsonl``).
        labels: label as written in the query file -> its folder name (the
            ``label`` of :meth:`to_dict` entries and the keys of ``counts``).
        downloaded: manifest records of the images added by this run.
        duplicates: manifest records of the images this run found to be
            (near-)duplicates of kept ones (``duplicate_of``, ``distance``).
        failures: manifest records of what failed in this run, with ``reason``
            and ``permanent`` (a re-run retries only non-permanent failures).
        already_done: sources skipped because an earlier run finished them.
        counts: folder name -> images in the dataset now (all runs).
    """

    out_dir: str
    manifest_path: str
    labels: dict
    downloaded: list = dataclasses.field(default_factory=list)
    duplicates: list = dataclasses.field(default_factory=list)
    failures: list = dataclasses.field(default_factory=list)
    already_done: int = 0
    counts: dict = dataclasses.field(default_factory=dict)

    def to_dict(self):
        """A JSON-ready summary (what ``keras-cvcls dataset download --json`` prints)."""

        def source(record):
            src = record["source"]
            out = {"label": record["folder"], "kind": src["kind"],
                   "source": src.get("url") or src.get("path") or src.get("folder") or src.get("query")}
            if src.get("query"):
                out["query"] = src["query"]
            return out

        return {
            "out_dir": self.out_dir,
            "manifest": self.manifest_path,
            "downloaded": len(self.downloaded),
            "already_done": self.already_done,
            "duplicates": [{**source(r), "duplicate_of": r["duplicate_of"], "distance": r["distance"]} for r in self.duplicates],
            "failures": [{**source(r), "reason": r["reason"], "permanent": r["permanent"]} for r in self.failures],
            "counts": dict(self.counts),
            "labels": dict(self.labels),
        }


@dataclasses.dataclass(frozen=True)
class _Job:
    index: int
    key: str
    folder: str
    label: str
    source: dict  # as recorded: URLs without credentials
    url: str = None  # the URL to fetch, as written


@dataclasses.dataclass(frozen=True)
class _Prepared:
    path: str  # a temporary file we own, or (link modes) the source file
    owned: bool
    sha256: str
    dhash: str
    stem: str
    ext: str
    info: object
    final_url: str = None


@dataclasses.dataclass(frozen=True)
class _Failure:
    reason: str
    permanent: bool


class _Sessions:
    """One guarded :class:`requests.Session` per worker thread (sessions are not thread-safe)."""

    def __init__(self, allow_private_addresses):
        self._local, self._all, self._lock = threading.local(), [], threading.Lock()
        self.allow_private_addresses = allow_private_addresses

    def get(self):
        if not hasattr(self._local, "session"):
            self._local.session = guarded_session(allow_private_addresses=self.allow_private_addresses)
            with self._lock:
                self._all.append(self._local.session)
        return self._local.session

    def close(self):
        for session in self._all:
            session.close()


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}. Received: {name}={value!r}")


def _check_int(name, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
        raise ValueError(f"{name} must be {allowed}. Received: {name}={value!r}")


def _extension(fmt, hint):
    allowed = _FORMAT_EXTENSIONS[fmt]
    ext = os.path.splitext(hint or "")[1].lower()
    return ext if ext in allowed else allowed[0]


def _list_images(folder):
    """Image files below ``folder`` (sorted, hidden files and folders left out)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not is_hidden(d) and d != SIDECAR_DIRNAME)
        for name in sorted(filenames):
            if not is_hidden(name) and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                found.append(os.path.join(dirpath, name))
    return found


def _is_done(record, out_dir):
    if not record:
        return False
    if record["status"] == OK:
        return os.path.isfile(os.path.join(out_dir, record["file"]))
    return record["status"] == DUPLICATE or bool(record.get("permanent"))


class _Run:
    """The state of one :func:`download_dataset` call."""

    def __init__(self, out_dir, *, tmp_dir, manifest, options, local_files, max_pixels, index, report,
                 allow_private_addresses, run_timeout):
        self.out_dir, self.root = out_dir, os.path.realpath(out_dir)
        self.tmp_dir = tmp_dir
        self.manifest, self.options, self.local_files = manifest, options, local_files
        self.max_pixels, self.index, self.report = max_pixels, index, report
        self.sessions = _Sessions(allow_private_addresses)
        self.run_timeout = run_timeout
        self.run_deadline = None  # set when the downloads start

    def start_clock(self):
        """Starts ``run_timeout``'s count (when the downloads start, after the searches)."""
        if self.run_timeout is not None:
            self.run_deadline = time.monotonic() + self.run_timeout

    def inside(self, path):
        return ensure_inside(self.root, path)

    # ------------------------------------------------------------- planning
    def plan(self, entries, provider, max_per_query, progress):
        jobs, seen = [], set()

        def add(entry, target, source, url=None):
            key = f"{entry.folder}\t{target}"
            if key in seen:
                return
            seen.add(key)
            if _is_done(self.manifest.get(key), self.out_dir):
                self.report.already_done += 1
            else:
                jobs.append(_Job(len(jobs), key, entry.folder, entry.label, source, url))

        queries = [e for e in entries if e.kind == "query"]
        with progress_bar(len(queries), "Searching", unit="query", enabled=progress) as bar:
            for entry in entries:
                if entry.kind == "url":
                    shown = without_credentials(entry.value)  # the manifest keeps no passwords
                    add(entry, shown, {"kind": "url", "url": shown}, entry.value)
                elif entry.kind == "folder":
                    if not os.path.isdir(entry.value):
                        self.entry_failure(entry, {"kind": "folder", "folder": entry.value}, "folder not found")
                        continue
                    for path in _list_images(entry.value)[:max_per_query]:
                        add(entry, path, {"kind": "folder", "folder": entry.value, "path": path})
                else:
                    for url in self.search(entry, provider, max_per_query):
                        shown = without_credentials(url)
                        add(entry, shown, {"kind": "search", "query": entry.value, "url": shown}, url)
                    bar.update(1)
        return jobs

    def search(self, entry, provider, max_per_query):
        key = f"search\t{entry.folder}\t{entry.value}"
        cached = self.manifest.get(key)
        if cached and cached.get("count", 0) >= max_per_query:
            return cached["results"][:max_per_query]
        source = {"kind": "search", "query": entry.value}
        try:
            results = provider.search(entry.value, max_per_query)
        except SearchError as e:
            self.entry_failure(entry, source, str(e))
            return []
        urls = [r["content_url"] for r in results if isinstance(r, dict) and isinstance(r.get("content_url"), str)]
        urls = list(dict.fromkeys(urls))[:max_per_query]
        self.manifest.append(
            {"type": SEARCH, "key": key, "label": entry.label, "folder": entry.folder, "query": entry.value,
             "count": max_per_query, "results": [without_credentials(u) for u in urls]}
        )
        return urls

    def entry_failure(self, entry, source, reason):
        record = {"type": "entry", "key": f"entry\t{entry.folder}\t{entry.text}", "label": entry.label,
                  "folder": entry.folder, "source": source, "status": FAILED, "reason": reason, "permanent": False}
        self.report.failures.append(self.manifest.append(record))

    # ------------------------------------------------------ worker threads
    def prepare(self, job):
        """Fetches or copies one source into the temporary folder and checks it."""
        if self.run_deadline is not None and time.monotonic() >= self.run_deadline:
            return _Failure(f"not started: run_timeout={self.run_timeout:g} s passed first", False)
        try:
            if job.source["kind"] == "folder":
                return self._prepare_file(job)
            return self._prepare_url(job)
        except BadImageError as e:
            # A server keeps sending the same bytes; a local file may be fixed before the next run.
            return _Failure(f"bad image: {e}", job.source["kind"] != "folder")
        except FetchError as e:
            return _Failure(e.reason, e.permanent)
        except UnsafePathError as e:
            return _Failure(str(e), False)
        except OSError as e:
            return _Failure(f"file error: {e}", False)

    def _checked(self, path, owned, sha256=None):
        try:
            return check_image(path, max_pixels=self.max_pixels)
        except BadImageError:
            # Only the bytes we fetched make a bad image: a file that vanished or changed
            # under us is another writer's doing, and not worth a permanent failure.
            changed = sha256 is not None and (not os.path.isfile(path) or sha256_file(path) != sha256)
            if owned and os.path.exists(path):
                os.remove(path)
            if changed:
                raise OSError("the downloaded file changed before it was checked (another process writing here?)") from None
            raise

    def _prepare_url(self, job):
        url = job.url
        hint_ext = os.path.splitext(urllib.parse.urlsplit(url).path)[1].lower()
        tmp = self.inside(os.path.join(self.tmp_dir, f"{job.index}{hint_ext if hint_ext in IMAGE_EXTENSIONS else ''}"))
        result = fetch_image(url, tmp, session=self.sessions.get(), options=self.options, run_deadline=self.run_deadline)
        info = self._checked(tmp, True, result.sha256)
        return _Prepared(tmp, True, result.sha256, dhash(tmp), safe_stem(result.filename_hint),
                         _extension(info.format, result.filename_hint), info, result.final_url)

    def _prepare_file(self, job):
        src = job.source["path"]
        owned = self.local_files == "copy"
        path = src
        if owned:
            path = self.inside(os.path.join(self.tmp_dir, f"{job.index}{os.path.splitext(src)[1].lower()}"))
            shutil.copyfile(src, path)
        info = self._checked(path, owned)
        return _Prepared(path, owned, sha256_file(path), dhash(path), safe_stem(os.path.basename(src)),
                         _extension(info.format, src), info)

    # ------------------------------------------------------- main thread
    def result(self, future):
        """A worker's result; past ``run_timeout`` (and a little slack) a transient failure instead."""
        if self.run_deadline is None:
            return future.result()
        try:
            return future.result(max(self.run_deadline - time.monotonic(), 0.0) + _RUN_TIMEOUT_SLACK)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return _Failure(f"not finished within run_timeout={self.run_timeout:g} s", False)

    def finish(self, job, prepared):
        """Dedupes and places one prepared image; appends its manifest record."""
        base = {"type": IMAGE, "key": job.key, "label": job.label, "folder": job.folder, "source": job.source}
        if isinstance(prepared, _Failure):
            self.report.failures.append(
                self.manifest.append({**base, "status": FAILED, "reason": prepared.reason, "permanent": prepared.permanent})
            )
            return
        match = self.index.find(prepared.sha256, prepared.dhash)
        if match:
            self._discard(prepared)
            record = {**base, "status": DUPLICATE, "sha256": prepared.sha256, "duplicate_of": match[0], "distance": match[1]}
            self.report.duplicates.append(self.manifest.append(record))
            return
        try:
            relative = self._place(job, prepared)
        except (UnsafePathError, OSError) as e:
            self._discard(prepared)
            reason = str(e) if isinstance(e, UnsafePathError) else f"file error: {e}"
            self.report.failures.append(self.manifest.append({**base, "status": FAILED, "reason": reason, "permanent": False}))
            return
        info = prepared.info
        record = {**base, "status": OK, "file": relative, "sha256": prepared.sha256, "dhash": prepared.dhash,
                  "format": info.format, "width": info.width, "height": info.height}
        if prepared.final_url and prepared.final_url != job.source.get("url"):
            record["final_url"] = prepared.final_url
        self.index.add(relative, prepared.sha256, prepared.dhash)
        self.report.downloaded.append(self.manifest.append(record))

    def _place(self, job, prepared):
        label_dir = self.inside(os.path.join(self.out_dir, job.folder))
        os.makedirs(label_dir, exist_ok=True)
        self.inside(label_dir)  # again, now that it exists (it may be a pre-existing link)
        names = [f"{prepared.stem}{prepared.ext}", f"{prepared.stem}-{prepared.sha256[:8]}{prepared.ext}"]
        names += [f"{prepared.stem}-{prepared.sha256[:8]}-{i}{prepared.ext}" for i in range(2, 100)]
        name = next((n for n in names if not os.path.lexists(os.path.join(label_dir, n))), None)
        if name is None:
            raise OSError(f"no free file name for {prepared.stem}{prepared.ext} in {label_dir}")
        final = self.inside(os.path.join(label_dir, name))
        if prepared.owned:
            os.replace(prepared.path, final)
        elif self.local_files == "symlink":
            os.symlink(os.path.abspath(prepared.path), final)
        else:
            try:
                os.link(prepared.path, final)
            except OSError:  # another file system, or links not allowed: copy instead
                shutil.copyfile(prepared.path, final)
        return f"{job.folder}/{name}"

    def _discard(self, prepared):
        if prepared.owned and os.path.exists(prepared.path):
            os.remove(prepared.path)


def download_dataset(
    query_file,
    out_dir,
    *,
    max_per_query=50,
    search_provider=None,
    local_files="copy",
    dedupe="exact",
    near_distance=5,
    workers=8,
    timeout=10.0,
    total_timeout=60.0,
    run_timeout=None,
    retries=2,
    backoff=0.5,
    max_redirects=5,
    max_bytes=20 * 2**20,
    max_pixels=DEFAULT_MAX_PIXELS,
    allow_private_addresses=None,
    progress=None,
):
    """Builds a folder dataset (``OUT_DIR/LABEL/files``) from a cvtk query file.

    Each label's entries are local folders (copied or linked), image URLs
    (fetched in parallel) or text queries (searched with ``search_provider``,
    then fetched). Every image is checked with :func:`~keras_cvcls.data.check_image`
    (the dataset's own validator); exact duplicates (same sha256) are dropped,
    and with ``dedupe="near"`` also near-duplicates (difference hashes at most
    ``near_distance`` bits apart). The manifest
    ``OUT_DIR/.keras_cvcls/manifest.jsonl`` records every image's source,
    label, file and sha256, and every failure's reason (URLs without any
    ``user:password@``); a re-run skips what is
    done (images kept, duplicates, permanent failures) and re-uses earlier search
    results, retrying only transient failures (timeouts, connection errors,
    429/5xx, refused addresses) and re-checking bad local files (they may have been fixed); an
    image deleted from ``out_dir`` is fetched again. Only http(s) URLs are fetched, file and folder names are
    sanitised, and every write is checked to resolve inside ``out_dir``.

    Only public addresses are fetched unless ``allow_private_addresses`` is
    set: every URL, redirect and search result is resolved, refused if any of
    its addresses is loopback, private, link-local, multicast, reserved or
    unspecified (IPv4 and IPv6), and connected to at the address checked (so
    DNS rebinding cannot change it in between).

    One run at a time per ``out_dir``: a run holds
    ``OUT_DIR/.keras_cvcls/download.lock`` while it works, and a second run
    into the same folder fails at once with :class:`~keras_cvcls.folder_lock.FolderBusyError`
    naming the first one's process id (it does not wait: run it again when the
    first is done). Each run keeps its temporary files in a folder of its own.

    Args:
        query_file: JSON file ``{"label": ["text query", "../folder", "https://host/img.jpg"], ...}``.
        out_dir: the dataset folder to create or complete.
        max_per_query: most images taken from each folder and each text query.
        search_provider: an :class:`ImageSearchProvider` for text queries
            (default: :class:`JsonImageSearchProvider` configured from
            ``KERAS_CVCLS_SEARCH_KEY`` / ``KERAS_CVCLS_SEARCH_ENDPOINT``; only needed
            when the file has text queries).
        local_files: ``"copy"``, ``"hardlink"`` (falls back to copying across
            file systems) or ``"symlink"``, for images from local folders.
        dedupe: ``"exact"`` or ``"near"``.
        near_distance: Hamming distance (of 64 bits) for ``dedupe="near"``.
        workers: parallel downloads.
        timeout: seconds to connect and between received bytes.
        total_timeout: seconds one URL may take in all, wall-clock, retries and
            redirects included; a server that sends slowly is cut off then.
        run_timeout: seconds all the downloads of the run may take, from the
            first one's start (None: no limit); URLs not done by then are
            recorded as transient failures, which the next run tries again.
        retries: further attempts after a transient failure.
        backoff: seconds before the first retry, doubled for each next one.
        max_redirects: redirects followed per URL.
        max_bytes: largest download accepted.
        max_pixels: largest width x height accepted (decompression-bomb guard).
        allow_private_addresses: also fetch from loopback, private and
            link-local addresses (your own network). None: as the environment
            variable ``KERAS_CVCLS_ALLOW_PRIVATE_ADDRESSES`` says (``1`` allows),
            else False.
        progress: show progress bars on stderr (None: only on a terminal).

    Returns:
        A :class:`DownloadReport`.

    Raises:
        ValueError: for a bad argument or query file.
        MissingSearchKeyError: when the file has text queries, no provider is
            given and ``KERAS_CVCLS_SEARCH_KEY`` is not set.
        FolderBusyError: when another run is downloading into ``out_dir``.

    Example:
        >>> report = download_dataset("queries.json", "photos/", max_per_query=30)
        >>> report.counts
        {'cat': 28, 'dog': 30}
        >>> ds = ClassificationDataset.from_directory("photos/")
    """
    _check_int("max_per_query", max_per_query, 1)
    _check_int("workers", workers, 1)
    _check_int("near_distance", near_distance, 0, 64)
    _check_choice("local_files", local_files, LOCAL_FILE_MODES)
    _check_choice("dedupe", dedupe, DEDUPE_MODES)
    if run_timeout is not None and (isinstance(run_timeout, bool) or not isinstance(run_timeout, (int, float))
                                    or not run_timeout > 0):
        raise ValueError(f"run_timeout must be a positive number of seconds or None. Received: run_timeout={run_timeout!r}")
    allow_private = private_addresses_allowed(allow_private_addresses)
    options = FetchOptions(timeout=timeout, total_timeout=total_timeout, retries=retries, backoff=backoff,
                           max_redirects=max_redirects, max_bytes=max_bytes)
    entries = read_query_file(query_file)
    if search_provider is not None and not isinstance(search_provider, ImageSearchProvider):
        raise ValueError(f"search_provider must be an ImageSearchProvider. Received: search_provider={search_provider!r}")
    if search_provider is None and any(e.kind == "query" for e in entries):
        search_provider = JsonImageSearchProvider()  # raises, naming the variable, when no key is set

    if not isinstance(out_dir, (str, os.PathLike)) or (os.path.exists(out_dir) and not os.path.isdir(out_dir)):
        raise ValueError(f"out_dir must be a folder path. Received: out_dir={out_dir!r}")
    out_dir = os.path.abspath(os.fspath(out_dir))
    os.makedirs(out_dir, exist_ok=True)
    root = os.path.realpath(out_dir)
    sidecar = ensure_inside(root, os.path.join(out_dir, SIDECAR_DIRNAME))
    os.makedirs(sidecar, exist_ok=True)
    with FolderLock(ensure_inside(root, os.path.join(sidecar, LOCK_FILENAME)), out_dir, "downloading into"):
        _remove_stale_tmp_dirs(root, sidecar)  # left by killed runs; no other run is working now
        manifest = Manifest(ensure_inside(root, os.path.join(sidecar, MANIFEST_FILENAME)))
        report = DownloadReport(out_dir, manifest.path, {e.label: e.folder for e in entries})
        index = DuplicateIndex(near_distance if dedupe == "near" else None)
        for record in manifest.records(IMAGE):
            if record["status"] == OK and os.path.isfile(os.path.join(out_dir, record["file"])):
                index.add(record["file"], record["sha256"], record.get("dhash"))

        tmp_dir = ensure_inside(root, tempfile.mkdtemp(prefix=TMP_PREFIX, dir=sidecar))
        run = _Run(out_dir, tmp_dir=tmp_dir, manifest=manifest, options=options, local_files=local_files,
                   max_pixels=max_pixels, index=index, report=report, allow_private_addresses=allow_private,
                   run_timeout=run_timeout)
        try:
            _run_jobs(run, run.plan(entries, search_provider, max_per_query, progress), workers, progress)
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)

        counts = dict.fromkeys(sorted(set(report.labels.values())), 0)
        for record in manifest.records(IMAGE):
            if record["status"] == OK and os.path.isfile(os.path.join(out_dir, record["file"])):
                counts[record["folder"]] = counts.get(record["folder"], 0) + 1
        report.counts = counts
    return report


def _remove_stale_tmp_dirs(root, sidecar):
    for name in os.listdir(sidecar):
        if name.startswith(("download-tmp", TMP_PREFIX)):
            shutil.rmtree(ensure_inside(root, os.path.join(sidecar, name)), ignore_errors=True)


def _run_jobs(run, jobs, workers, progress):
    """Prepares the jobs in parallel and finishes them in job order."""
    pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="keras-cvcls-download")
    abandoned = False
    run.start_clock()
    try:
        futures = [pool.submit(run.prepare, job) for job in jobs]
        with progress_bar(len(jobs), "Downloading", unit="img", enabled=progress) as bar:
            # Results are handled in job order, so which copy of a duplicate is kept, and
            # file names, do not depend on network timing; the downloads themselves run on,
            # each bounded by total_timeout, so a slow one holds up none of the others.
            for job, future in zip(jobs, futures):
                prepared = run.result(future)
                abandoned = abandoned or not future.done()
                run.finish(job, prepared)
                bar.update(1)
    finally:
        # A worker given up on (past run_timeout) is not waited for; it only touches the
        # run's temporary folder, and its connections were cut at the deadline.
        pool.shutdown(wait=not abandoned, cancel_futures=True)
        run.sessions.close()

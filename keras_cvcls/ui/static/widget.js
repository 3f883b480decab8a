// The keras-cvcls UI as a notebook widget (anywidget; Python side: ui/widget.py).
// The page of the UI server (index.html, its style sheet and scripts) is asked for over the
// kernel's comm, mounted in a shadow root inside the widget's element, and run with a host
// (common.js's KC.host) whose request function sends each request over the comm instead of
// fetch(): the browser never connects to the server, so this works wherever widgets do.

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

// Requests over the comm: model.send({kind: "request", id, method, path, headers}, body buffer),
// answered by {kind: "response", id, status, reason, headers} and the body as a buffer.
function commTransport(model) {
  const pending = new Map();
  let lastId = 0;
  function onMessage(message, buffers) {
    if (!message || message.kind !== "response" || !pending.has(message.id)) return;
    const { resolve } = pending.get(message.id);
    pending.delete(message.id);
    const body = NULL_BODY_STATUS.has(message.status) ? null : (buffers && buffers[0]) || new Uint8Array(0);
    resolve(new Response(body, { status: message.status, statusText: message.reason, headers: message.headers }));
  }
  model.on("msg:custom", onMessage);

  async function request(path, options) {
    options = options || {};
    const url = new URL(path, "http://keras-cvcls.invalid/");
    const headers = [...new Headers(options.headers || {}).entries()];
    const hasBody = options.body !== undefined && options.body !== null;
    const body = hasBody ? await new Response(options.body).arrayBuffer() : null;
    const id = ++lastId;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      const method = (options.method || "GET").toUpperCase();
      const message = { kind: "request", id, method, path: url.pathname + url.search, headers };
      model.send(message, undefined, body ? [body] : []);
    });
  }

  function close() {
    model.off("msg:custom", onMessage);
    for (const { reject } of pending.values()) reject(new Error("The widget was closed."));
    pending.clear();
  }
  return { request, close };
}

// The server's error (its JSON {"error": message}) as an Error naming the path.
async function failure(path, response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    message = (await response.json()).error || message;
  } catch (e) {
    // not JSON: keep the status line
  }
  return new Error(`${path}: ${message}`);
}

async function text(request, path) {
  const response = await request(path);
  if (!response.ok) throw await failure(path, response);
  return response.text();
}

// <img> sources as object URLs of images fetched over the comm; revoked once shown.
function imageLoader(request) {
  const urls = new Set();
  function load(img, path) {
    img.dataset.kcPath = path || "";
    if (!path) {
      img.removeAttribute("src");
      return;
    }
    request(path)
      .then(async (response) => {
        if (!response.ok) throw await failure(path, response);
        const blob = await response.blob();
        if (img.dataset.kcPath !== path) return; // pointed elsewhere meanwhile
        const url = URL.createObjectURL(blob);
        urls.add(url);
        const revoke = () => {
          URL.revokeObjectURL(url);
          urls.delete(url);
        };
        img.addEventListener("load", revoke, { once: true });
        img.addEventListener("error", revoke, { once: true });
        img.src = url;
      })
      .catch((e) => {
        img.title = e.message;
      });
  }
  load.close = () => {
    for (const url of urls) URL.revokeObjectURL(url);
    urls.clear();
  };
  return load;
}

// A page of the server (the HTML report) in a new tab, from an object URL.
async function openInTab(request, path) {
  const tab = window.open("", "_blank"); // now, while the click still allows it
  if (!tab) return;
  try {
    const response = await request(path);
    if (!response.ok) throw await failure(path, response);
    const blob = await response.blob();
    tab.location.href = URL.createObjectURL(blob);
  } catch (e) {
    tab.document.body.textContent = `keras-cvcls: ${e.message}`;
  }
}

async function render({ model, el }) {
  const transport = commTransport(model);
  const request = transport.request;
  const image = imageLoader(request);
  // JupyterLab and Notebook 7 skip their shortcuts for keys typed inside this element: the UI's
  // own (1-9 relabel, x exclude, n/p pages) would otherwise change or cut notebook cells.
  el.setAttribute("data-lm-suppress-shortcuts", "true");
  el.addEventListener("keydown", (event) => event.stopPropagation());
  const shadow = el.shadowRoot || el.attachShadow({ mode: "open" });
  const cleanups = [transport.close, image.close];
  try {
    const page = new DOMParser().parseFromString(await text(request, "/"), "text/html");
    const sheets = [...page.querySelectorAll('link[rel="stylesheet"][href]')].map((l) => l.getAttribute("href"));
    const scripts = [...page.querySelectorAll("script[src]")].map((s) => s.getAttribute("src"));
    const [css, js] = await Promise.all([
      Promise.all(sheets.map((href) => text(request, href))),
      Promise.all(scripts.map((src) => text(request, src))),
    ]);
    for (const node of page.body.querySelectorAll("script")) node.remove();
    const token = page.querySelector('meta[name="keras-cvcls-token"]');

    const frame = document.createElement("div");
    frame.className = page.body.className;
    frame.tabIndex = 0; // clicks inside focus it, so it hears the keyboard shortcuts
    Object.assign(frame.style, { overflow: "auto", outline: "none" });
    const resize = () => {
      Object.assign(frame.style, { maxHeight: `${model.get("height")}px`, width: model.get("width") });
    };
    resize();
    model.on("change:height", resize);
    model.on("change:width", resize);
    cleanups.push(() => {
      model.off("change:height", resize);
      model.off("change:width", resize);
    });
    frame.append(...[...page.body.childNodes].map((node) => document.importNode(node, true)));
    const styles = css.map((sheet) => Object.assign(document.createElement("style"), { textContent: sheet }));
    shadow.replaceChildren(...styles, frame);

    // The hash (#view?filters) lives here, not in the notebook's address; its view is the model's.
    let hash = `#${model.get("view")}`;
    const hashListeners = [];
    const viewOf = (value) => value.replace(/^#/, "").split("?")[0];
    const setHash = (value) => {
      hash = value;
      const view = viewOf(value);
      if (view && view !== model.get("view")) {
        model.set("view", view);
        model.save_changes();
      }
    };
    const host = {
      root: shadow,
      frame,
      keys: frame,
      request,
      image,
      readHash: () => hash,
      writeHash: setHash,
      onHashChange: (listener) => hashListeners.push(listener),
      setTitle: () => {},
      token: token ? token.getAttribute("content") : "",
    };
    const go = (value) => {
      setHash(value);
      for (const listener of hashListeners) listener();
    };
    const viewChanged = () => {
      // widget.view = "pr" in Python (a change made here comes back too: nothing to do then)
      if (viewOf(hash) !== model.get("view")) go(`#${model.get("view")}`);
    };
    model.on("change:view", viewChanged);
    cleanups.push(() => model.off("change:view", viewChanged));
    // Links: views (#results) change the widget's own hash, pages of the server (/report) open from
    // the comm; others (TensorBoard) open as usual.
    frame.addEventListener("click", (event) => {
      const link = event.target.closest("a[href]");
      if (!link) return;
      const href = link.getAttribute("href");
      if (href.startsWith("#")) {
        event.preventDefault();
        go(href);
      } else if (href.startsWith("/") && !href.startsWith("//")) {
        event.preventDefault();
        openInTab(request, href);
      }
    });

    // The page's scripts, run as one module with this host (KC_HOST) instead of the document's.
    const source = `export default function (KC_HOST) {\n${js.join("\n;\n")}\n}\n`;
    const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    try {
      (await import(/* webpackIgnore: true */ url)).default(host);
    } finally {
      URL.revokeObjectURL(url);
    }
  } catch (e) {
    const message = document.createElement("pre");
    message.className = "kc-widget-error";
    message.textContent = `keras-cvcls UI: ${e.message}`;
    shadow.replaceChildren(message);
  }
  return () => {
    for (const cleanup of cleanups) cleanup();
  };
}

export default { render };

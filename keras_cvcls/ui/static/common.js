// Shared helpers of the keras-cvcls UI: its host, JSON API calls, status line, URL state, the paged image grid.
"use strict";

const KC = {};

// Where the UI lives and how it reaches its server. Served as a page, that is this document, fetch()
// and the location hash. The notebook widget (widget.js) runs these same scripts with a host of its
// own, KC_HOST: a shadow root, requests sent over the kernel's comm, the hash kept in memory.
KC.host = typeof KC_HOST === "object" && KC_HOST !== null ? KC_HOST : {
  root: document, // where elements are looked up by id
  frame: document.body, // the element of class kc-app holding the views
  keys: document, // where keyboard shortcuts are heard
  // Every call to the server: fetch()'s arguments, a Response back.
  request: (path, options) => fetch(path, options),
  // Points an <img> at an image of the server (thumbnails, previews), or at nothing for a null path.
  image: (img, path) => {
    if (path) img.src = path;
    else img.removeAttribute("src");
  },
  readHash: () => location.hash,
  writeHash: (hash) => history.replaceState(null, "", hash),
  onHashChange: (listener) => window.addEventListener("hashchange", listener),
  setTitle: (title) => {
    document.title = title;
  },
  // The session's token, which the server writes into its page; sent with every change.
  token: (document.querySelector('meta[name="keras-cvcls-token"]') || {}).content || "",
};

KC.byId = (id) => KC.host.root.getElementById(id);

KC.api = async function (path, options) {
  const response = await KC.host.request(path, options);
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    body = null;
  }
  if (!response.ok) {
    throw new Error(body && body.error ? body.error : `${response.status} ${response.statusText}`);
  }
  return body;
};

KC.post = function (path, data) {
  return KC.api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Keras-Cvcls-Token": KC.host.token },
    body: JSON.stringify(data),
  });
};

KC.status = function (message, kind) {
  const el = KC.byId("status");
  el.textContent = message || "";
  el.className = kind || "";
};

// el("div", {class: "x", onclick: fn}, child, "text", ...)
KC.el = function (tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
};

KC.fmt = function (value, digits) {
  if (value === null || value === undefined || Number.isNaN(value)) return "n/a";
  return Number(value).toFixed(digits === undefined ? 4 : digits);
};

// The location hash holds the view and its filters: #annotate?label=cat&page=3
KC.readHash = function () {
  const hash = KC.host.readHash().replace(/^#/, "");
  const at = hash.indexOf("?");
  const view = at < 0 ? hash : hash.slice(0, at);
  return { view: view || "annotate", params: new URLSearchParams(at < 0 ? "" : hash.slice(at + 1)) };
};

KC.writeHash = function (view, params) {
  const query = params.toString();
  KC.host.writeHash(`#${view}${query ? "?" + query : ""}`);
};

KC.fillSelect = function (select, options, value) {
  select.replaceChildren(...options.map(([v, text]) => KC.el("option", { value: v }, text)));
  if (value !== undefined && value !== null) select.value = value;
};

KC.isTyping = function (event) {
  const t = event.target;
  return t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA" || t.isContentEditable);
};

KC.keysLegend = function (labels, multiLabel) {
  const parts = labels.slice(0, 9).map((label, i) =>
    KC.el("span", {}, KC.el("kbd", {}, String(i + 1)), multiLabel ? " toggle " : " ", label));
  parts.push(
    KC.el("span", {}, KC.el("kbd", {}, "x"), " exclude / include"),
    KC.el("span", {}, KC.el("kbd", {}, "\u2190\u2191\u2192\u2193"), " move"),
    KC.el("span", {}, KC.el("kbd", {}, "n"), " / ", KC.el("kbd", {}, "p"), " next / previous page"),
    KC.el("span", {}, KC.el("kbd", {}, "Enter"), " preview"),
    KC.el("span", {}, KC.el("kbd", {}, "/"), " search"),
  );
  return parts;
};

KC.preview = {
  open(item) {
    const box = KC.byId("preview");
    KC.host.image(KC.byId("preview-img"), item.image);
    KC.byId("preview-caption").textContent = `${item.id}  (${item.label})`;
    box.hidden = false;
  },
  close() {
    KC.byId("preview").hidden = true;
    KC.host.image(KC.byId("preview-img"), null);
  },
  isOpen() {
    return !KC.byId("preview").hidden;
  },
};

// A page of image cards with a keyboard selection; pages come from a JSON endpoint.
class PagedGrid {
  constructor(options) {
    Object.assign(this, options); // grid, prev, next, pageinfo, endpoint, params(), renderCard(item), onData(data)
    this.items = [];
    this.selected = -1;
    this.page = 1;
    this.pages = 1;
    this.seq = 0;
    this.labels = [];
    this.prev.addEventListener("click", () => this.goto(this.page - 1));
    this.next.addEventListener("click", () => this.goto(this.page + 1));
    this.grid.addEventListener("click", (event) => {
      const card = event.target.closest(".card");
      if (card && !event.target.closest("select, button")) this.select(Number(card.dataset.index));
    });
    this.grid.addEventListener("dblclick", (event) => {
      const card = event.target.closest(".card");
      if (card && !event.target.closest("select, button")) KC.preview.open(this.items[Number(card.dataset.index)]);
    });
  }

  async load(page, selectIndex) {
    const seq = ++this.seq;
    const params = this.params();
    params.set("page", String(page || 1));
    this.grid.dataset.loading = "1";
    let data;
    try {
      data = await KC.api(`${this.endpoint}?${params}`);
    } catch (e) {
      if (seq === this.seq) {
        delete this.grid.dataset.loading;
        KC.status(e.message, "error");
        this.grid.replaceChildren(KC.el("p", { class: "error" }, e.message));
      }
      return;
    }
    if (seq !== this.seq) return; // a newer request won
    this.items = data.items;
    this.page = data.page;
    this.pages = data.pages;
    this.total = data.total;
    this.render();
    if (this.onData) this.onData(data);
    const index = selectIndex === "last" ? this.items.length - 1 : selectIndex || 0;
    this.select(Math.min(index, this.items.length - 1), { scroll: selectIndex !== undefined });
    delete this.grid.dataset.loading;
  }

  goto(page) {
    if (page < 1 || page > this.pages) return;
    this.load(page);
  }

  render() {
    const fragment = document.createDocumentFragment();
    this.items.forEach((item, index) => fragment.append(this.card(item, index)));
    this.grid.replaceChildren(fragment);
    if (!this.items.length) this.grid.append(KC.el("p", { class: "muted empty" }, "No images match."));
    this.grid.dataset.page = String(this.page);
    this.pageinfo.textContent = `page ${this.page} of ${this.pages} \u00b7 ${this.total} images`;
    this.prev.disabled = this.page <= 1;
    this.next.disabled = this.page >= this.pages;
  }

  card(item, index) {
    const labelSelect = KC.el(
      "select",
      { class: "label-select", "aria-label": `Label of ${item.name}`, title: "Label" },
      ...this.labels.map((label) => KC.el("option", { value: label }, label)),
    );
    labelSelect.value = item.label;
    labelSelect.addEventListener("change", () => this.relabelIndex(index, labelSelect.value, false));
    // A multi-label image: one toggle button per label, pressed where the image has it.
    const labelControl = !this.multiLabel ? labelSelect : KC.el(
      "span",
      { class: "label-toggles", role: "group", "aria-label": `Labels of ${item.name}` },
      ...this.labels.map((label) => {
        const on = item.label.includes(label);
        const button = KC.el(
          "button",
          { type: "button", class: on ? "label-toggle on" : "label-toggle", "aria-pressed": on ? "true" : "false",
            dataset: { label } },
          label,
        );
        button.addEventListener("click", () => this.toggleLabelIndex(index, label));
        return button;
      }),
    );
    const excludeButton = KC.el(
      "button",
      { type: "button", class: "exclude-btn", title: "Exclude from the dataset (x)" },
      item.excluded ? "Include" : "Exclude",
    );
    excludeButton.addEventListener("click", () => this.toggleExcludeIndex(index, false));
    const classes = ["card"];
    if (item.excluded) classes.push("excluded");
    if (item.relabeled) classes.push("relabeled");
    if (index === this.selected) classes.push("selected");
    const card = KC.el(
      "figure",
      { class: classes.join(" "),
        dataset: { index: String(index), id: item.id, label: this.multiLabel ? item.label.join(" ") : item.label } },
      KC.el("div", { class: "thumb" }, this.thumb(item)),
      KC.el("figcaption", {},
        KC.el("div", { class: "name", title: item.id }, item.name),
        KC.el("div", { class: "controls" }, labelControl, excludeButton),
        item.relabeled ? KC.el("div", { class: "was muted" }, `was ${this.multiLabel ? item.original_label.join(", ") : item.original_label}`) : null,
      ),
    );
    if (this.decorateCard) this.decorateCard(card, item);
    return card;
  }

  thumb(item) {
    const img = KC.el("img", { loading: "lazy", decoding: "async", alt: item.name, width: 160, height: 160 });
    KC.host.image(img, item.thumb);
    return img;
  }

  select(index, options) {
    if (!this.items.length) {
      this.selected = -1;
      return;
    }
    index = Math.max(0, Math.min(index, this.items.length - 1));
    const old = this.grid.querySelector(".card.selected");
    if (old) old.classList.remove("selected");
    this.selected = index;
    const card = this.cardAt(index);
    if (card) {
      card.classList.add("selected");
      if (!options || options.scroll !== false) card.scrollIntoView({ block: "nearest" });
    }
  }

  cardAt(index) {
    return this.grid.querySelector(`.card[data-index="${index}"]`);
  }

  columns() {
    const cards = this.grid.querySelectorAll(".card");
    if (!cards.length) return 1;
    const top = cards[0].offsetTop;
    let n = 0;
    for (const card of cards) {
      if (card.offsetTop !== top) break;
      n += 1;
    }
    return Math.max(1, n);
  }

  move(delta) {
    const target = this.selected + delta;
    if (target < 0) {
      if (this.page > 1) this.load(this.page - 1, "last");
      return;
    }
    if (target >= this.items.length) {
      if (this.page < this.pages) this.load(this.page + 1, 0);
      return;
    }
    this.select(target);
  }

  replaceItem(index, item) {
    this.items[index] = item;
    const old = this.cardAt(index);
    if (old) old.replaceWith(this.card(item, index));
  }

  async relabelIndex(index, label, advance) {
    const item = this.items[index];
    if (!item) return;
    try {
      const data = await KC.post("/api/relabel", { id: item.id, label });
      this.replaceItem(index, this.merge(item, data.item));
      KC.status(`Saved: ${item.id} \u2192 ${label}`, "ok");
      if (this.onCounts) this.onCounts(data);
      if (advance) this.move(1);
    } catch (e) {
      KC.status(e.message, "error");
      this.replaceItem(index, item); // undo the select's change
    }
  }

  async toggleLabelIndex(index, label) {
    const item = this.items[index];
    if (!item) return;
    try {
      const data = await KC.post("/api/toggle", { id: item.id, label });
      this.replaceItem(index, this.merge(item, data.item));
      KC.status(`Saved: ${item.id} \u2192 ${data.item.label.join(", ")}`, "ok");
      if (this.onCounts) this.onCounts(data);
    } catch (e) {
      KC.status(e.message, "error");
    }
  }

  async toggleExcludeIndex(index, advance) {
    const item = this.items[index];
    if (!item) return;
    try {
      const data = await KC.post("/api/exclude", { id: item.id, excluded: !item.excluded });
      this.replaceItem(index, this.merge(item, data.item));
      KC.status(`Saved: ${item.id} ${data.item.excluded ? "excluded" : "included"}`, "ok");
      if (this.onCounts) this.onCounts(data);
      if (advance) this.move(1);
    } catch (e) {
      KC.status(e.message, "error");
    }
  }

  merge(old, fresh) {
    return Object.assign({}, old, fresh);
  }

  onKey(event) {
    const key = event.key;
    const columns = () => this.columns();
    if (key === "ArrowRight") this.move(1);
    else if (key === "ArrowLeft") this.move(-1);
    else if (key === "ArrowDown") this.move(columns());
    else if (key === "ArrowUp") this.move(-columns());
    else if (key === "n" || key === "PageDown") this.goto(this.page + 1);
    else if (key === "p" || key === "PageUp") this.goto(this.page - 1);
    else if (key === "x" && this.selected >= 0) this.toggleExcludeIndex(this.selected, true);
    else if (/^[1-9]$/.test(key) && this.selected >= 0) {
      const label = this.labels[Number(key) - 1];
      if (label === undefined) return false;
      if (this.multiLabel) this.toggleLabelIndex(this.selected, label); // several labels: stay on the image
      else this.relabelIndex(this.selected, label, true);
    } else if (key === "Enter" && this.selected >= 0) KC.preview.open(this.items[this.selected]);
    else return false;
    return true;
  }
}

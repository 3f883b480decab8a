// The annotation view: a paged grid of the dataset's images, filtered by label, status and name.
"use strict";

class AnnotateView {
  constructor(info) {
    this.info = info;
    this.label = KC.byId("a-label");
    this.status = KC.byId("a-status");
    this.search = KC.byId("a-search");
    this.counts = KC.byId("a-counts");
    this.grid = new PagedGrid({
      grid: KC.byId("a-grid"),
      prev: KC.byId("a-prev"),
      next: KC.byId("a-next"),
      pageinfo: KC.byId("a-pageinfo"),
      endpoint: "/api/images",
      params: () => this.params(),
      onData: (data) => {
        this.showCounts(data);
        this.saveHash();
      },
      onCounts: (data) => this.showCounts(data),
    });
    this.grid.labels = info.labels;
    this.grid.multiLabel = Boolean(info.multi_label);
    KC.byId("a-keys").replaceChildren(...KC.keysLegend(info.labels, this.grid.multiLabel));
    this.showCounts(info);
    const reload = () => this.grid.load(1);
    this.label.addEventListener("change", reload);
    this.status.addEventListener("change", reload);
    let timer = null;
    this.search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(reload, 200);
    });
    this.search.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === "Escape") {
        this.search.blur();
        event.preventDefault();
      }
    });
  }

  showCounts(data) {
    const value = this.label.value;
    KC.fillSelect(
      this.label,
      [["", `all labels (${data.num_images})`], ...this.info.labels.map((l) => [l, `${l} (${data.counts[l]})`])],
      value,
    );
    this.counts.textContent =
      `${data.num_images} included \u00b7 ${data.num_excluded} excluded \u00b7 ${data.num_relabeled} relabelled`;
  }

  params() {
    const params = new URLSearchParams();
    if (this.label.value) params.set("label", this.label.value);
    if (this.status.value !== "all") params.set("status", this.status.value);
    if (this.search.value) params.set("q", this.search.value);
    return params;
  }

  saveHash() {
    const params = this.params();
    if (this.grid.page > 1) params.set("page", String(this.grid.page));
    KC.writeHash("annotate", params);
  }

  show(params) {
    if (params.has("label")) this.label.value = params.get("label");
    if (params.has("status")) this.status.value = params.get("status");
    if (params.has("q")) this.search.value = params.get("q");
    this.grid.load(Number(params.get("page")) || this.grid.page || 1);
  }

  onKey(event) {
    if (event.key === "/") {
      this.search.focus();
      return true;
    }
    return this.grid.onKey(event);
  }
}

// The results view: the scored images with true and predicted labels; relabel label errors here.
"use strict";

// What the scores are of (a run, with its TensorBoard command; a model; scores given in Python) and the report link.
KC.runbar = function (info) {
  const results = info.results;
  const report = KC.el("a", { href: results.report_url, target: "_blank", rel: "noopener", class: "report-link" },
    "HTML evaluation report");
  const run = info.run;
  if (!run) {
    const what = results.source === "model" ? ["Model ", KC.el("strong", {}, results.name)] : ["Scores given in Python"];
    return [KC.el("span", {}, ...what), report];
  }
  const command = KC.el("code", { class: "tb-command" }, run.tensorboard_command);
  const copy = KC.el("button", { type: "button", class: "small" }, "copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(run.tensorboard_command);
      KC.status("Copied the TensorBoard command", "ok");
    } catch (e) {
      KC.status("Select the command and copy it", "");
    }
  });
  return [
    KC.el("span", {}, "Run ", KC.el("strong", {}, run.name)),
    KC.el("span", { class: "tensorboard" }, "TensorBoard: ", command, " ", copy, " then open ",
      KC.el("a", { href: run.tensorboard_url, target: "_blank", rel: "noopener", class: "tb-link" }, run.tensorboard_url),
      run.logs_exist ? null : KC.el("span", { class: "muted" }, " (no logs/ folder yet)")),
    report,
  ];
};

class ResultsView {
  constructor(info) {
    this.info = info;
    this.showSelect = KC.byId("r-show");
    this.sort = KC.byId("r-sort");
    this.label = KC.byId("r-label");
    this.predicted = KC.byId("r-predicted");
    this.summary = KC.byId("r-summary");
    const labelOptions = [["", "any"], ...info.labels.map((l) => [l, l])];
    KC.fillSelect(this.label, labelOptions, "");
    KC.fillSelect(this.predicted, labelOptions, "");
    KC.byId("r-runbar").replaceChildren(...KC.runbar(info));
    KC.byId("r-keys").replaceChildren(...KC.keysLegend(info.labels, Boolean(info.multi_label)));
    this.grid = new PagedGrid({
      grid: KC.byId("r-grid"),
      prev: KC.byId("r-prev"),
      next: KC.byId("r-next"),
      pageinfo: KC.byId("r-pageinfo"),
      endpoint: "/api/results",
      params: () => this.params(),
      onData: (data) => {
        this.showSummary(data.summary);
        this.saveHash();
      },
      decorateCard: (card, item) => this.decorate(card, item),
      onCounts: () => this.refreshSummary(),
    });
    this.grid.labels = info.labels;
    this.grid.multiLabel = Boolean(info.multi_label);
    for (const select of [this.showSelect, this.sort, this.label, this.predicted]) {
      select.addEventListener("change", () => this.grid.load(1));
    }
  }

  decorate(card, item) {
    if (this.grid.multiLabel) {
      // Per label: found (tp), missed (fn) or added (fp); labels neither true nor predicted are left out.
      const words = { tp: "\u2713", fn: "missed", fp: "added" };
      card.classList.toggle("mistake", item.mistake);
      card.dataset.predicted = item.predicted_labels.join(" ");
      card.querySelector("figcaption").append(
        KC.el("div", { class: "per-label" },
          ...this.info.labels.filter((l) => item.per_label[l].outcome !== "tn").map((l) => KC.el(
            "span", { class: `outcome outcome-${item.per_label[l].outcome}`, dataset: { label: l, outcome: item.per_label[l].outcome } },
            `${l} ${words[item.per_label[l].outcome]} ${KC.fmt(item.per_label[l].score, 2)}`))),
        KC.el("div", { class: "muted" }, `loss ${KC.fmt(item.loss, 3)}`),
      );
      return;
    }
    const mistake = item.label !== item.predicted_label;
    card.classList.toggle("mistake", mistake);
    card.dataset.predicted = item.predicted_label;
    card.querySelector("figcaption").append(
      KC.el("div", { class: "prediction" },
        "predicted ", KC.el("strong", {}, item.predicted_label), ` ${KC.fmt(item.score, 3)}`),
      KC.el("div", { class: "muted" }, `loss ${KC.fmt(item.loss, 3)} \u00b7 true score ${KC.fmt(item.true_score, 3)}`),
    );
  }

  showSummary(s) {
    const parts = [
      KC.el("span", {}, `${s.num_images} ${s.source === "run" ? "test images" : "images"}`),
      KC.el("span", { class: "mistakes" }, `${s.mistakes} mistakes`),
      KC.el("span", {}, `${s.multi_label ? "exact-match ratio" : "accuracy"} ${KC.fmt(s.accuracy, 3)}`),
      KC.el("span", {}, `${s.multi_label ? "label accuracy" : "class-averaged"} ${KC.fmt(s.class_avg_accuracy, 3)}`),
    ];
    if (s.multi_label) parts.push(KC.el("span", {}, `mAP ${KC.fmt(s.mAP, 3)}`));
    if (s.num_excluded_or_unknown) parts.push(KC.el("span", { class: "muted" }, `${s.num_excluded_or_unknown} excluded or with a label the model does not know`));
    if (s.num_missing) parts.push(KC.el("span", { class: "muted" }, `${s.num_missing} test images missing from the folder`));
    parts.push(KC.el("span", { class: "muted" }, "Relabelling a test image changes its true label."));
    this.summary.replaceChildren(...parts);
  }

  async refreshSummary() {
    // After a relabel or exclusion: the numbers change, the page of cards stays as it is.
    const params = this.params();
    params.set("page_size", "1");
    try {
      this.showSummary((await KC.api(`/api/results?${params}`)).summary);
    } catch (e) {
      KC.status(e.message, "error");
    }
  }

  params() {
    const params = new URLSearchParams();
    if (this.showSelect.value !== "all") params.set("show", this.showSelect.value);
    if (this.sort.value !== "loss") params.set("sort", this.sort.value);
    if (this.label.value) params.set("label", this.label.value);
    if (this.predicted.value) params.set("predicted", this.predicted.value);
    return params;
  }

  saveHash() {
    const params = this.params();
    if (this.grid.page > 1) params.set("page", String(this.grid.page));
    KC.writeHash("results", params);
  }

  show(params) {
    if (params.has("show")) this.showSelect.value = params.get("show");
    if (params.has("sort")) this.sort.value = params.get("sort");
    if (params.has("label")) this.label.value = params.get("label");
    if (params.has("predicted")) this.predicted.value = params.get("predicted");
    this.summary.textContent = "Scoring the images (the first time only)\u2026";
    this.grid.load(Number(params.get("page")) || this.grid.page || 1);
  }

  onKey(event) {
    return this.grid.onKey(event);
  }
}

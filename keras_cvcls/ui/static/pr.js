// The precision / recall view: curves drawn as inline SVG, a threshold slider, numbers from the server.
"use strict";

const PR_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const PLOT = { left: 52, right: 430, top: 12, bottom: 372 };
const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

const px = (recall) => PLOT.left + recall * (PLOT.right - PLOT.left);
const py = (precision) => PLOT.bottom - precision * (PLOT.bottom - PLOT.top);

class PrecisionRecallView {
  constructor(info) {
    this.info = info;
    this.svg = KC.byId("pr-svg");
    this.legend = KC.byId("pr-legend");
    this.curveSelect = KC.byId("pr-curve");
    this.slider = KC.byId("pr-threshold");
    this.number = KC.byId("pr-threshold-number");
    this.readout = KC.byId("pr-readout");
    this.table = KC.host.root.querySelector("#pr-table tbody");
    this.data = null;
    this.inFlight = false;
    this.pending = false;
    this.last = null;
    KC.byId("p-runbar").replaceChildren(...KC.runbar(info));
    this.slider.addEventListener("input", () => {
      this.number.value = this.slider.value;
      this.update();
    });
    this.number.addEventListener("change", () => {
      const value = Math.min(1, Math.max(0, Number(this.number.value) || 0));
      this.slider.value = String(value);
      this.number.value = this.slider.value;
      this.update();
    });
    this.curveSelect.addEventListener("change", () => {
      this.draw();
      this.showNumbers();
      this.saveHash();
    });
  }

  async show(params) {
    if (params.has("threshold")) {
      this.slider.value = params.get("threshold");
      this.number.value = this.slider.value;
    }
    // Curves are fetched on every visit: labels fixed in the other views change them.
    this.readout.dataset.state = "loading";
    if (!this.data) KC.status("Scoring the images (the first time only)\u2026", "");
    const current = params.get("curve") || this.curveSelect.value || "overall";
    try {
      this.data = await KC.api("/api/pr");
    } catch (e) {
      KC.status(e.message, "error");
      return;
    }
    KC.status("", "");
    if (this.data.multi_label) this.labelSliders(this.data.label_thresholds);
    KC.fillSelect(this.curveSelect,
      this.data.curves.map((c) => [c.name, c.name === "overall" ? "overall (all image-class pairs)" : c.name]), current);
    if (!this.curveSelect.value) this.curveSelect.value = "overall";
    this.draw();
    this.update();
  }

  // Multi-label: one threshold slider per label, starting at the model's thresholds; the label's curve
  // and its numbers follow its own slider ("overall" follows the main one).
  labelSliders(thresholds) {
    let box = KC.byId("pr-label-sliders");
    if (box) return;
    box = KC.el("div", { id: "pr-label-sliders", class: "label-sliders" },
      KC.el("p", { class: "muted small" }, "Per-label thresholds (the model's to start with):"));
    for (const [label, value] of Object.entries(thresholds)) {
      const range = KC.el("input", { type: "range", min: "0", max: "1", step: "0.001", value: String(value),
        "aria-label": `Threshold of ${label}`, dataset: { label } });
      const shown = KC.el("span", { class: "value" }, Number(value).toFixed(3));
      range.addEventListener("input", () => {
        shown.textContent = Number(range.value).toFixed(3);
        this.update();
      });
      box.append(KC.el("div", { class: "slider label-slider" }, KC.el("label", {}, label), range, shown));
    }
    this.slider.closest(".slider").after(box);
  }

  labelThresholds() {
    const box = KC.byId("pr-label-sliders");
    if (!box) return null;
    const values = {};
    for (const range of box.querySelectorAll("input[type=range]")) values[range.dataset.label] = Number(range.value);
    return values;
  }

  curve() {
    return this.data.curves.find((c) => c.name === this.curveSelect.value) || this.data.curves[0];
  }

  draw() {
    const nodes = [];
    for (let i = 0; i <= 5; i += 1) {
      const v = i / 5;
      nodes.push(svg("line", { x1: px(0), x2: px(1), y1: py(v), y2: py(v), class: "gridline" }));
      nodes.push(svg("line", { x1: px(v), x2: px(v), y1: py(0), y2: py(1), class: "gridline" }));
      nodes.push(svg("text", { x: PLOT.left - 6, y: py(v) + 4, "text-anchor": "end", class: "tick" }, v.toFixed(1)));
      nodes.push(svg("text", { x: px(v), y: PLOT.bottom + 16, "text-anchor": "middle", class: "tick" }, v.toFixed(1)));
    }
    nodes.push(svg("text", { x: (PLOT.left + PLOT.right) / 2, y: PLOT.bottom + 36, "text-anchor": "middle", class: "axis-label" }, "Recall"));
    nodes.push(svg("text", { x: 14, y: (PLOT.top + PLOT.bottom) / 2, "text-anchor": "middle", class: "axis-label",
      transform: `rotate(-90 14 ${(PLOT.top + PLOT.bottom) / 2})` }, "Precision"));
    nodes.push(svg("rect", { x: PLOT.left, y: PLOT.top, width: PLOT.right - PLOT.left, height: PLOT.bottom - PLOT.top, class: "frame" }));
    const selected = this.curve().name;
    const legend = [];
    this.data.curves.forEach((c, i) => {
      const color = c.name === "overall" ? "#111" : PR_COLORS[(i - 1) % PR_COLORS.length];
      if (c.recall.length) {
        // Drawn as steps (matplotlib's "steps-post", as scikit-learn's PrecisionRecallDisplay).
        const points = [];
        c.recall.forEach((r, j) => {
          if (j > 0) points.push(`${px(r).toFixed(1)},${py(c.precision[j - 1]).toFixed(1)}`);
          points.push(`${px(r).toFixed(1)},${py(c.precision[j]).toFixed(1)}`);
        });
        nodes.push(svg("polyline", {
          points: points.join(" "), fill: "none", stroke: color, "data-curve": c.name,
          class: c.name === selected ? "curve selected" : "curve",
        }));
      }
      const ap = c.average_precision === null ? "n/a" : KC.fmt(c.average_precision, 3);
      const entry = KC.el("button", { type: "button", class: c.name === selected ? "legend-item selected" : "legend-item" },
        KC.el("span", { class: "swatch", style: `background:${color}` }), ` ${c.name} (AP ${ap})`);
      entry.addEventListener("click", () => {
        this.curveSelect.value = c.name;
        this.curveSelect.dispatchEvent(new Event("change"));
      });
      legend.push(entry);
    });
    // The selected curve on top.
    const top = nodes.findIndex((n) => n.getAttribute("data-curve") === selected);
    if (top >= 0) nodes.push(...nodes.splice(top, 1));
    nodes.push(svg("circle", { id: "pr-marker", r: 6, cx: px(0), cy: py(0), visibility: "hidden" }));
    this.svg.replaceChildren(...nodes);
    this.legend.replaceChildren(...legend);
  }

  async update() {
    if (!this.data) return;
    if (this.inFlight) {
      this.pending = true; // latest value wins; one request at a time
      return;
    }
    this.inFlight = true;
    this.pending = false;
    const threshold = this.slider.value;
    this.readout.dataset.state = "loading";
    try {
      const perLabel = this.labelThresholds();
      const extra = perLabel ? `&label_thresholds=${encodeURIComponent(JSON.stringify(perLabel))}` : "";
      this.last = { threshold, numbers: await KC.api(`/api/pr/at?threshold=${encodeURIComponent(threshold)}${extra}`) };
    } catch (e) {
      KC.status(e.message, "error");
    }
    this.inFlight = false;
    if (this.pending) {
      this.update();
      return;
    }
    this.showNumbers();
    this.saveHash();
  }

  showNumbers() {
    if (!this.last) return;
    const { threshold, numbers } = this.last;
    const curve = this.curve();
    const n = numbers[curve.name];
    const set = (field, value, text) => {
      const cell = this.readout.querySelector(`[data-field="${field}"]`);
      cell.textContent = text;
      cell.dataset.value = value === null ? "" : String(value);
    };
    set("threshold", n.threshold, KC.fmt(n.threshold, 3));
    set("precision", n.precision, KC.fmt(n.precision));
    set("recall", n.recall, KC.fmt(n.recall));
    set("f1", n.f1, KC.fmt(n.f1));
    for (const field of ["tp", "fp", "fn", "tn"]) set(field, n[field], String(n[field]));
    set("average_precision", curve.average_precision, curve.average_precision === null ? "n/a" : KC.fmt(curve.average_precision));
    const marker = this.svg.querySelector("#pr-marker");
    if (marker) {
      const defined = n.predicted_positive > 0 && n.positives > 0;
      marker.setAttribute("cx", px(n.recall).toFixed(1));
      marker.setAttribute("cy", py(n.precision).toFixed(1));
      marker.setAttribute("visibility", defined ? "visible" : "hidden");
    }
    this.table.replaceChildren(...this.data.curves.map((c) => {
      const m = numbers[c.name];
      return KC.el("tr", { "data-curve": c.name, class: c.name === curve.name ? "selected" : null },
        KC.el("td", { class: "name" }, c.name),
        KC.el("td", {}, c.average_precision === null ? "n/a" : KC.fmt(c.average_precision, 3)),
        KC.el("td", { "data-value": m.precision }, KC.fmt(m.precision)),
        KC.el("td", { "data-value": m.recall }, KC.fmt(m.recall)),
        KC.el("td", {}, KC.fmt(m.f1)),
        KC.el("td", {}, String(m.tp)), KC.el("td", {}, String(m.fp)), KC.el("td", {}, String(m.fn)));
    }));
    this.readout.dataset.curve = curve.name;
    this.readout.dataset.threshold = threshold;
    this.readout.dataset.state = "ready";
  }

  saveHash() {
    const params = new URLSearchParams();
    if (this.data && this.curveSelect.value !== "overall") params.set("curve", this.curveSelect.value);
    params.set("threshold", this.slider.value);
    KC.writeHash("pr", params);
  }

  onKey() {
    return false;
  }
}

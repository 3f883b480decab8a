// The "Label new" view: photos a model suggested for labelling; keys 1-9 label them into the dataset.
"use strict";

class NewPhotosView {
  constructor(info) {
    this.info = info;
    this.items = [];
    this.selected = 0;
    this.loaded = false;
    this.grid = KC.byId("n-grid");
    this.counts = KC.byId("n-counts");
    KC.byId("n-keys").replaceChildren(
      ...info.labels.slice(0, 9).map((label, i) => KC.el("span", {}, KC.el("kbd", {}, String(i + 1)), " ", label)),
      KC.el("span", {}, KC.el("kbd", {}, "\u2190\u2192"), " move"),
      KC.el("span", {}, KC.el("kbd", {}, "Enter"), " preview"),
    );
    this.grid.addEventListener("click", (event) => {
      const card = event.target.closest(".card");
      if (card && !event.target.closest("select, button")) this.select(Number(card.dataset.index));
    });
  }

  async show() {
    if (!this.loaded) {
      try {
        const data = await KC.api("/api/new");
        this.items = data.items;
        this.loaded = true;
      } catch (e) {
        KC.status(e.message, "error");
        return;
      }
    }
    this.render();
  }

  render() {
    const labelled = this.items.filter((item) => item.added_id).length;
    this.counts.textContent = `${this.items.length} suggested photos \u00b7 ${labelled} labelled into the dataset`;
    this.grid.replaceChildren(...this.items.map((item, index) => this.card(item, index)));
    if (!this.items.length) this.grid.append(KC.el("p", { class: "muted empty" }, "No photos to label."));
  }

  card(item, index) {
    const select = KC.el(
      "select",
      { class: "label-select", "aria-label": `Label of ${item.name}` },
      KC.el("option", { value: "" }, "label\u2026"),
      ...this.info.labels.map((label) => KC.el("option", { value: label }, label)),
    );
    select.value = item.label || "";
    select.addEventListener("change", () => {
      if (select.value) this.label(index, select.value, false);
    });
    const img = KC.el("img", { loading: "lazy", alt: item.name, width: 160, height: 160 });
    KC.host.image(img, item.image);
    const classes = ["card"];
    if (index === this.selected) classes.push("selected");
    if (item.added_id) classes.push("labelled");
    const guess = item.predicted_label ? `model: ${item.predicted_label} ${KC.fmt(item.probability, 2)}` : "";
    return KC.el(
      "figure",
      { class: classes.join(" "), dataset: { index: String(index), rank: String(item.rank), label: item.label || "" } },
      KC.el("div", { class: "thumb" }, img),
      KC.el("figcaption", {},
        KC.el("div", { class: "name", title: item.path }, `${item.rank}. ${item.name}`),
        KC.el("div", { class: "muted" }, `${guess} \u00b7 uncertainty ${KC.fmt(item.score, 2)}`),
        KC.el("div", { class: "controls" }, select),
        item.added_id ? KC.el("div", { class: "added muted" }, `in the dataset as ${item.added_id}`) : null,
      ),
    );
  }

  select(index) {
    if (!this.items.length) return;
    this.selected = Math.max(0, Math.min(index, this.items.length - 1));
    for (const card of this.grid.querySelectorAll(".card")) {
      card.classList.toggle("selected", Number(card.dataset.index) === this.selected);
    }
    const card = this.grid.querySelector(`.card[data-index="${this.selected}"]`);
    if (card) card.scrollIntoView({ block: "nearest" });
  }

  async label(index, label, advance) {
    const item = this.items[index];
    if (!item) return;
    try {
      const data = await KC.post("/api/new/label", { index, label });
      this.items[index] = data.item;
      KC.status(`Saved: ${item.name} \u2192 ${label} (${data.item.added_id})`, "ok");
      this.render();
      this.select(advance ? index + 1 : index);
    } catch (e) {
      KC.status(e.message, "error");
      this.render();
    }
  }

  onKey(event) {
    const key = event.key;
    if (key === "ArrowRight" || key === "ArrowDown") this.select(this.selected + 1);
    else if (key === "ArrowLeft" || key === "ArrowUp") this.select(this.selected - 1);
    else if (key === "Enter" && this.items[this.selected]) KC.preview.open(this.items[this.selected]);
    else if (/^[1-9]$/.test(key)) {
      const label = this.info.labels[Number(key) - 1];
      if (label === undefined) return false;
      this.label(this.selected, label, true);
    } else return false;
    return true;
  }
}

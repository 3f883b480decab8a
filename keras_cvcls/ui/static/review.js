// The review view: find_issues' findings one at a time, best first; accept, keep or exclude, undo.
"use strict";

class ReviewView {
  constructor(info) {
    this.info = info;
    this.items = [];
    this.index = 0;
    this.canUndo = false;
    this.loaded = false;
    this.box = KC.byId("v-finding");
    this.pageinfo = KC.byId("v-pageinfo");
    KC.byId("v-prev").addEventListener("click", () => this.goto(this.index - 1));
    KC.byId("v-next").addEventListener("click", () => this.goto(this.index + 1));
    KC.byId("v-accept").addEventListener("click", () => this.decide("accept"));
    KC.byId("v-keep").addEventListener("click", () => this.decide("keep"));
    KC.byId("v-exclude").addEventListener("click", () => this.decide("exclude"));
    this.undoButton = KC.byId("v-undo");
    this.undoButton.addEventListener("click", () => this.undo());
    KC.byId("v-keys").replaceChildren(
      KC.el("span", {}, KC.el("kbd", {}, "a"), " accept the suggestion"),
      KC.el("span", {}, KC.el("kbd", {}, "k"), " keep the label"),
      KC.el("span", {}, KC.el("kbd", {}, "x"), " exclude the image"),
      KC.el("span", {}, KC.el("kbd", {}, "u"), " undo"),
      KC.el("span", {}, KC.el("kbd", {}, "\u2190\u2192"), " previous / next finding"),
    );
  }

  async show(params) {
    if (!this.loaded) {
      try {
        const data = await KC.api("/api/review");
        this.items = data.items;
        this.canUndo = data.can_undo;
        this.elsewhere = data.num_elsewhere;
        this.loaded = true;
      } catch (e) {
        KC.status(e.message, "error");
        return;
      }
    }
    this.goto(Number(params.get("i")) || this.index || 0);
  }

  goto(index) {
    if (!this.items.length) {
      this.index = 0;
      this.render();
      return;
    }
    this.index = Math.max(0, Math.min(index, this.items.length - 1));
    const params = new URLSearchParams();
    if (this.index) params.set("i", String(this.index));
    KC.writeHash("review", params);
    this.render();
  }

  render() {
    const n = this.items.length;
    this.undoButton.disabled = !this.canUndo;
    const more = this.elsewhere ? ` (${this.elsewhere} more on images of another folder)` : "";
    if (!n) {
      this.pageinfo.textContent = "";
      this.box.replaceChildren(KC.el("p", { class: "muted empty" }, `No findings to review${more}.`));
      return;
    }
    this.pageinfo.textContent = `finding ${this.index + 1} of ${n}${more}`;
    const item = this.items[this.index];
    KC.byId("v-accept").disabled = false;
    KC.byId("v-accept").textContent = item.suggested_label ? `Accept: ${item.suggested_label}` : "Accept: exclude";
    const img = KC.el("img", { alt: item.name, class: "review-img" });
    KC.host.image(img, item.image);
    const images = [KC.el("figure", {}, img, KC.el("figcaption", {}, item.id))];
    if (item.other_image) {
      const other = KC.el("img", { alt: item.other_id, class: "review-img" });
      KC.host.image(other, item.other_image);
      images.push(KC.el("figure", {}, other, KC.el("figcaption", {}, `duplicate: ${item.other_id}`)));
    }
    const row = (name, value, field) => KC.el("tr", {}, KC.el("th", {}, name), KC.el("td", { "data-field": field }, value));
    const decision = item.decision || "not decided";
    this.box.replaceChildren(
      KC.el(
        "div",
        {
          class: `review-card kind-${item.kind}${item.decision ? " decided" : ""}`,
          dataset: { id: item.id, index: String(this.index), label: item.label, decision: item.decision || "" },
        },
        KC.el("div", { class: "review-images" }, ...images),
        KC.el(
          "table",
          { class: "readout review-facts" },
          KC.el(
            "tbody",
            {},
            row("Finding", item.kind.replace(/_/g, " "), "kind"),
            row("Current label", item.label + (item.excluded ? " (excluded)" : ""), "label"),
            row("Suggested", item.suggested_label || (item.kind === "duplicate" ? "exclude one copy" : "\u2014"), "suggested"),
            row("Reason", item.reason, "reason"),
            row("Score", KC.fmt(item.score, 3), "score"),
            row("Decision", decision, "decision"),
          ),
        ),
      ),
    );
  }

  async decide(action) {
    const item = this.items[this.index];
    if (!item) return;
    try {
      const data = await KC.post("/api/review", { id: item.id, action, kind: item.kind });
      this.update(data);
      KC.status(`Saved: ${item.id} ${data.item.decision || action}`, "ok");
      this.goto(this.index + 1);
    } catch (e) {
      KC.status(e.message, "error");
    }
  }

  async undo() {
    if (!this.canUndo) return;
    try {
      const data = await KC.post("/api/review/undo", {});
      const index = this.update(data);
      KC.status(`Undone: ${data.item.id}`, "ok");
      this.goto(index);
    } catch (e) {
      KC.status(e.message, "error");
    }
  }

  // Every finding on the image changed takes its new state; returns the index of the finding returned.
  update(data) {
    this.canUndo = data.can_undo;
    const fresh = data.item;
    for (const [i, item] of this.items.entries()) {
      if (item.id !== fresh.id) continue;
      this.items[i] = Object.assign({}, item, {
        label: fresh.label, excluded: fresh.excluded, relabeled: fresh.relabeled, kept: fresh.kept,
      });
      if (item.kind === fresh.kind) this.items[i] = Object.assign({}, this.items[i], { decision: fresh.decision });
    }
    return fresh.index;
  }

  onKey(event) {
    const key = event.key;
    if (key === "a") this.decide("accept");
    else if (key === "k") this.decide("keep");
    else if (key === "x") this.decide("exclude");
    else if (key === "u" || key === "z") this.undo();
    else if (key === "ArrowRight" || key === "n") this.goto(this.index + 1);
    else if (key === "ArrowLeft" || key === "p") this.goto(this.index - 1);
    else if (key === "Enter" && this.items[this.index]) KC.preview.open(this.items[this.index]);
    else return false;
    return true;
  }
}

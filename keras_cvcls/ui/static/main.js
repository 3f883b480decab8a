// Start-up: read /api/info, build the views, route on the location hash, dispatch keyboard shortcuts.
"use strict";

(async function main() {
  let info;
  try {
    info = await KC.api("/api/info");
  } catch (e) {
    KC.status(`Cannot reach the keras-cvcls server: ${e.message}`, "error");
    return;
  }
  KC.byId("dataset-name").textContent = `${info.name} \u00b7 ${info.labels.length} labels`;
  KC.host.setTitle(`keras-cvcls \u00b7 ${info.name}`);
  const views = { annotate: new AnnotateView(info) };
  if (info.results) {
    views.results = new ResultsView(info);
    views.pr = new PrecisionRecallView(info);
  } else {
    KC.host.frame.classList.add("no-run");
  }
  if (info.review) views.review = new ReviewView(info);
  else KC.host.frame.classList.add("no-issues");
  if (info.new_photos) views.new = new NewPhotosView(info);
  else KC.host.frame.classList.add("no-suggestions");

  let active = null;
  function route() {
    const { view, params } = KC.readHash();
    let name = "annotate";
    if (views[view]) name = view;
    else if (view === "results" || view === "pr") name = "norun";
    else if (view === "review") name = "noissues";
    else if (view === "new") name = "nosuggestions";
    for (const section of KC.host.root.querySelectorAll(".view")) section.hidden = section.id !== `view-${name}`;
    for (const link of KC.host.root.querySelectorAll("nav a[data-view]")) {
      link.classList.toggle("active", link.dataset.view === name);
    }
    KC.host.frame.dataset.view = name;
    active = views[name] || null;
    if (active) active.show(params);
  }

  KC.host.onHashChange(route);
  KC.host.keys.addEventListener("keydown", (event) => {
    if (KC.preview.isOpen()) {
      if (event.key === "Escape" || event.key === "Enter" || event.key === " ") {
        KC.preview.close();
        event.preventDefault();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || KC.isTyping(event)) return;
    const onControl = event.target.closest && event.target.closest("button, a");
    if (onControl && (event.key === "Enter" || event.key === " ")) return; // the control's own action
    if (active && active.onKey(event)) event.preventDefault();
  });
  KC.byId("preview").addEventListener("click", () => KC.preview.close());
  route();
})();

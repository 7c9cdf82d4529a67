// tapeviz GraphView: pan and zoom on the SVG's viewBox, open boxes, details, search, replay.
// Every text from Python goes in with textContent; the SVG is parsed as XML, never as HTML.

const MIN_SCALE = 1;  // px per pt of the first view at least: 10 pt labels are 10 px high
const MAX_HEIGHT = 640;  // px of the drawing on screen before it scrolls by panning
const PLAY_MS = 1200;
// A view restored from a saved notebook has no kernel behind it: say so instead of spinning.
const NO_ANSWER_MS = 15000;
const NO_KERNEL = "No kernel answered: run the cell again to open or close boxes (pan, zoom, " +
  "details, search and the replay work without one).";

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(label, title) {
  const node = element("button", "tv-button", label);
  node.type = "button";
  if (title) node.title = title;
  return node;
}

function parseSvg(text) {
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg") return null;
  for (const bad of svg.querySelectorAll("script, foreignObject")) bad.remove();
  return document.importNode(svg, true);
}

// The static picture displayed just before this widget (a reader without a kernel sees it):
// hidden while the widget is live, so the graph is not shown twice.
function hideStaticTwin(el) {
  const output = el.closest(".jp-OutputArea-child");
  const before = output && output.previousElementSibling;
  const img = before && before.querySelector("[data-mime-type='image/svg+xml'] img");
  if (img && dataUrlText(img.src).includes("<title>tapeviz</title>")) {
    before.classList.add("tv-static-twin");
  }
}

function dataUrlText(url) {
  const comma = url.indexOf(",");
  try {
    const data = url.slice(comma + 1);
    return url.slice(0, comma).endsWith(";base64") ? atob(data) : decodeURIComponent(data);
  } catch (error) {
    return "";  // not the picture this view was displayed with
  }
}

function render({ model, el }) {
  el.classList.add("tv-view");
  const bar = element("div", "tv-bar");
  const fitButton = button("Fit to width", "See the whole width of the graph");
  const zoomIn = button("+", "Zoom in (or the mouse wheel)");
  const zoomOut = button("\u2212", "Zoom out (or the mouse wheel)");
  const search = element("input", "tv-search");
  search.type = "search";
  search.placeholder = "Search names";
  const replayButton = button("Replay backward", "Step through the backward pass");
  const opened = element("span", "tv-opened");
  bar.append(fitButton, zoomIn, zoomOut, search, replayButton, opened);

  const replayBar = element("div", "tv-replay");
  const prev = button("\u25c0 Prev");
  const next = button("Next \u25b6");
  const play = button("Play");
  const slider = element("input", "tv-slider");
  slider.type = "range";
  slider.min = "0";
  const counter = element("span", "tv-counter");
  const caption = element("div", "tv-caption");
  replayBar.append(prev, next, play, slider, counter, caption);

  const stage = element("div", "tv-stage");
  const spinner = element("div", "tv-spinner");
  spinner.append(element("div", "tv-spin"), element("span", "", "redrawing\u2026"));
  const details = element("div", "tv-details");
  const message = element("div", "tv-error");
  stage.append(spinner);
  el.append(bar, replayBar, stage, details, message);

  let svg = null;
  let full = null;  // the whole drawing, in SVG units
  let box = null;   // what is shown now
  let nodes = new Map();  // DOT id -> the <g> element
  let timer = null;

  // -- pan and zoom ----------------------------------------------------------------------------
  const stageSize = () => ({ w: stage.clientWidth || 800, h: stage.clientHeight || 400 });
  const scale = () => stageSize().w / box.w;

  function show(view) {
    const { w, h } = stageSize();
    box = { x: view.x, y: view.y, w: view.w, h: view.w * h / w };
    svg.setAttribute("viewBox", `${box.x} ${box.y} ${box.w} ${box.h}`);
  }

  function fit(minimum) {
    const width = stage.clientWidth || 800;
    const s = Math.max(width / full.w, minimum);
    stage.style.height = `${Math.max(160, Math.min(MAX_HEIGHT, full.h * s))}px`;
    show({ x: full.x, y: full.y, w: width / s });
    const first = nodes.get("n0");  // the first box in execution order: where reading starts
    if (s > width / full.w && first) reveal(first);
  }

  function zoomAt(factor, clientX, clientY) {
    const rect = stage.getBoundingClientRect();
    const px = box.x + (clientX - rect.left) / scale();
    const py = box.y + (clientY - rect.top) / scale();
    const w = Math.min(Math.max(box.w / factor, 20), full.w * 8);
    const ratio = w / box.w;
    show({ x: px - (px - box.x) * ratio, y: py - (py - box.y) * ratio, w });
  }

  stage.addEventListener("wheel", (event) => {
    if (!svg) return;
    event.preventDefault();
    zoomAt(Math.exp(-event.deltaY * 0.002), event.clientX, event.clientY);
  }, { passive: false });

  let drag = null;
  stage.addEventListener("pointerdown", (event) => {
    if (!svg || event.button !== 0) return;
    drag = { x: event.clientX, y: event.clientY, box: { ...box }, moved: false };
  });
  const onMove = (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 4) drag.moved = true;
    if (drag.moved) {
      const s = stageSize().w / drag.box.w;
      show({ x: drag.box.x - dx / s, y: drag.box.y - dy / s, w: drag.box.w });
    }
  };
  const onUp = (event) => {
    const wasDrag = drag && drag.moved;
    const started = drag !== null;
    drag = null;
    if (started && !wasDrag && svg && stage.contains(event.target)) clicked(event.target);
  };
  window.addEventListener("pointermove", onMove);
  window.addEventListener("pointerup", onUp);
  fitButton.addEventListener("click", () => svg && fit(0));
  const centre = () => {
    const rect = stage.getBoundingClientRect();
    return [rect.left + rect.width / 2, rect.top + rect.height / 2];
  };
  zoomIn.addEventListener("click", () => svg && zoomAt(1.25, ...centre()));
  zoomOut.addEventListener("click", () => svg && zoomAt(0.8, ...centre()));

  // -- the drawing -----------------------------------------------------------------------------
  function nodeInfo(target) {
    const g = target.closest && target.closest("g.node");
    if (!g) return null;
    const id = g.dataset.tvId;
    return { id, g, info: (model.get("nodes") || {})[id] };
  }

  function clicked(target) {
    const found = nodeInfo(target);
    if (!found || !found.info) return;
    const name = found.info.opens || found.info.closes;
    if (name) {
      toggle(name);
    } else if (found.info.kind === "tensor") {
      showDetails(found.id);
    }
  }

  function draw() {
    const text = model.get("svg");
    const parsed = text ? parseSvg(text) : null;
    if (svg) svg.remove();
    svg = parsed;
    nodes = new Map();
    if (!svg) return;
    const [x, y, w, h] = (svg.getAttribute("viewBox") || "0 0 100 100").split(/[ ,]+/).map(Number);
    const first = full === null;
    full = { x, y, w, h };
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("preserveAspectRatio", "xMinYMin meet");
    svg.classList.add("tv-svg");
    const info = model.get("nodes") || {};
    for (const g of svg.querySelectorAll("g.node")) {
      const title = g.querySelector("title");
      const id = title ? title.textContent.trim() : "";
      g.dataset.tvId = id;
      nodes.set(id, g);
      const kind = info[id] ? info[id].kind : "";
      if (kind) g.classList.add(`tv-${kind}`);
      if (info[id] && (info[id].opens || info[id].closes)) g.classList.add("tv-clickable");
      if (title) title.remove();  // the browser's own tooltip would cover the details panel
      g.addEventListener("pointerenter", () => {
        if (kind === "tensor") showDetails(id);
        else if (info[id]) showHint(info[id]);
      });
    }
    stage.prepend(svg);
    if (first || !box) fit(MIN_SCALE);
    else show(box);
    highlight();
    markSearch();
  }

  // -- details ---------------------------------------------------------------------------------
  function bars(hist, label) {
    const wrap = element("div", "tv-hist");
    wrap.append(element("div", "tv-hist-label", label));
    if (hist.counts.length) {
      const top = Math.max(...hist.counts, 1);
      const row = element("div", "tv-bars");
      for (const count of hist.counts) {
        const bar = element("span", "tv-bar-v");
        bar.style.height = `${Math.round(40 * count / top)}px`;
        bar.title = String(count);
        row.append(bar);
      }
      wrap.append(row);
    } else {  // a summary only: where the mean sits between min and max
      const range = element("div", "tv-range");
      const mark = element("span", "tv-mean");
      const span = hist.max - hist.min;
      mark.style.left = `${span > 0 ? 100 * (hist.mean - hist.min) / span : 50}%`;
      range.append(mark);
      wrap.append(range);
    }
    wrap.append(element("div", "tv-hist-axis",
      `min ${hist.min.toPrecision(3)} \u00b7 mean ${hist.mean.toPrecision(3)} \u00b7 max ${hist.max.toPrecision(3)}`));
    return wrap;
  }

  function showDetails(id) {
    const d = (model.get("details") || {})[id];
    if (!d) return;
    details.replaceChildren();
    details.append(element("div", "tv-details-title", d.title));
    const table = element("table", "tv-details-rows");
    for (const [label, value] of d.rows) {
      const tr = element("tr");
      tr.append(element("th", "", label), element("td", "", value));
      table.append(tr);
    }
    details.append(table);
    if (d.value) details.append(bars(d.value, "value"));
    if (d.gradient) details.append(bars(d.gradient, "gradient"));
    details.classList.add("tv-on");
    details.dataset.node = id;
  }

  function showHint(info) {
    const hint = info.opens ? `click to open ${info.opens} in place`
      : info.closes ? `click to close ${info.closes} again` : "";
    details.replaceChildren(element("div", "tv-details-title", info.text));
    if (hint) details.append(element("div", "tv-hint", hint));
    details.classList.add("tv-on");
    delete details.dataset.node;
  }

  // -- search ----------------------------------------------------------------------------------
  function markSearch() {
    const query = search.value.trim().toLowerCase();
    const info = model.get("nodes") || {};
    for (const [id, g] of nodes) {
      const hit = query && info[id] && info[id].text.toLowerCase().includes(query);
      g.classList.toggle("tv-match", Boolean(hit));
      g.classList.toggle("tv-dim", Boolean(query) && !hit);
    }
  }
  search.addEventListener("input", markSearch);

  // -- replay ----------------------------------------------------------------------------------
  const ROLES = { op: "tv-r-op", upstream: "tv-r-up", local: "tv-r-local",
                  downstream: "tv-r-down", accumulated: "tv-r-acc" };

  function highlight() {
    for (const g of nodes.values()) g.classList.remove(...Object.values(ROLES));
    const steps = model.get("steps") || [];
    const on = model.get("replay") && steps.length > 0;
    replayBar.classList.toggle("tv-on", Boolean(model.get("replay")));
    replayButton.classList.toggle("tv-active", Boolean(model.get("replay")));
    replayButton.disabled = steps.length === 0;
    slider.max = String(Math.max(0, steps.length - 1));
    const i = model.get("step");
    const step = on && i >= 0 && i < steps.length ? steps[i] : null;
    slider.value = String(Math.max(0, i));
    counter.textContent = steps.length ? `step ${Math.max(0, i) + 1} of ${steps.length}` : "";
    caption.textContent = step ? step.caption : (steps.length ? "" : "no backward pass recorded");
    prev.disabled = !step || i <= 0;
    next.disabled = !step || i >= steps.length - 1;
    if (!step) return;
    for (const [role, cls] of Object.entries(ROLES)) {
      for (const id of step[role] || []) {
        const g = nodes.get(id);
        if (g) g.classList.add(cls);
      }
    }
    const op = nodes.get((step.op || [])[0]);
    if (op) reveal(op);
  }

  // Pan (never zoom) so that a node the replay highlights is on screen.
  function reveal(g) {
    const stageRect = stage.getBoundingClientRect();
    const rect = g.getBoundingClientRect();
    if (!stageRect.width || (rect.left >= stageRect.left && rect.right <= stageRect.right
        && rect.top >= stageRect.top && rect.bottom <= stageRect.bottom)) return;
    const s = scale();
    const dx = (rect.left + rect.width / 2) - (stageRect.left + stageRect.width / 2);
    const dy = (rect.top + rect.height / 2) - (stageRect.top + stageRect.height / 2);
    show({ x: box.x + dx / s, y: box.y + dy / s, w: box.w });
  }

  function go(i) {
    const steps = model.get("steps") || [];
    model.set("step", Math.min(Math.max(i, 0), steps.length - 1));
    model.save_changes();
  }

  function stopPlaying() {
    clearInterval(timer);
    timer = null;
    play.textContent = "Play";
  }

  replayButton.addEventListener("click", () => {
    const on = !model.get("replay");
    model.set("replay", on);
    if (on && model.get("step") < 0) model.set("step", 0);
    if (!on) stopPlaying();
    model.save_changes();
  });
  prev.addEventListener("click", () => go(model.get("step") - 1));
  next.addEventListener("click", () => go(model.get("step") + 1));
  slider.addEventListener("input", () => go(Number(slider.value)));
  play.addEventListener("click", () => {
    if (timer) return stopPlaying();
    play.textContent = "Pause";
    const steps = model.get("steps") || [];
    if (model.get("step") >= steps.length - 1) go(0);
    timer = setInterval(() => {
      const last = (model.get("steps") || []).length - 1;
      if (model.get("step") >= last) stopPlaying();
      else go(model.get("step") + 1);
    }, PLAY_MS);
  });

  // -- Python's side ---------------------------------------------------------------------------
  let waiting = null;  // the timer of a toggle no kernel has answered yet
  function toggle(name) {
    spinner.classList.add("tv-on");
    clearTimeout(waiting);
    waiting = setTimeout(() => {
      spinner.classList.remove("tv-on");
      message.textContent = NO_KERNEL;
    }, NO_ANSWER_MS);
    model.send({ type: "toggle", name });
  }
  const answered = () => clearTimeout(waiting);

  function showOpened() {
    opened.replaceChildren();
    for (const name of model.get("opened") || []) {
      const chip = button(`${name} \u00d7`, `Close ${name} again`);
      chip.classList.add("tv-chip");
      chip.addEventListener("click", () => toggle(name));
      opened.append(chip);
    }
  }

  model.on("change:svg", draw);
  model.on("change:steps", highlight);
  model.on("change:step", highlight);
  model.on("change:replay", highlight);
  model.on("change:opened", showOpened);
  model.on("change:busy", () => {
    answered();
    spinner.classList.toggle("tv-on", model.get("busy"));
  });
  model.on("change:error", () => {
    message.textContent = model.get("error");
    if (model.get("error")) spinner.classList.remove("tv-on");
  });

  draw();
  showOpened();
  requestAnimationFrame(() => {  // attached to the page now: the stage has its width
    if (svg) fit(MIN_SCALE);
    hideStaticTwin(el);
  });
  return () => {
    stopPlaying();
    window.removeEventListener("pointermove", onMove);
    window.removeEventListener("pointerup", onUp);
  };
}

export default { render };

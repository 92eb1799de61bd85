// dlabs web app: the home page (labs and their headline metrics) and a page per lab (its form,
// predictions, metrics beside baselines, plots). Everything comes from the JSON API; every text
// from the server goes in through textContent, never as HTML.
"use strict";

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(url, options) {
  const r = await fetch(url, options);
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const detail = body && body.detail ? body.detail : `${r.status} ${r.statusText}`;
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return body;
}

function fmt(v) {
  if (typeof v === "number") {
    if (Number.isInteger(v)) return v.toLocaleString("en-US");
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : Number(v.toPrecision(4)).toString();
  }
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return v ? "yes" : "no";
  return String(v);
}

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message;
  box.hidden = !message;
}

// home ---------------------------------------------------------------------------------------
async function home() {
  const root = document.getElementById("labs");
  let labs;
  try { labs = await api("/api/labs"); } catch (e) { showError(e.message); return; }
  for (const lab of labs) {
    const wins = (lab.verdict || []).filter((v) => !v.includes("NOT")).length;
    const total = (lab.verdict || []).length;
    root.append(h("a", { class: "card", href: `/lab/${encodeURIComponent(lab.lab)}`, "data-lab": lab.lab },
      h("div", { class: "name" }, lab.lab, h("span", { class: "badge" }, lab.input_kind)),
      h("div", { class: "title" }, lab.title),
      lab.run
        ? [lab.value === null
             ? h("div", { class: "pending" }, `${lab.preset} run, not evaluated yet`)
             : h("div", { class: "metric" }, fmt(lab.value), h("small", {}, `${lab.headline} · ${lab.preset} run`)),
           total ? h("div", { class: wins === total ? "verdict-good" : "verdict-bad" },
                     `beats ${wins} of ${total} baselines`) : null]
        : h("div", { class: "verdict-bad" }, "no trained run yet")));
  }
  root.removeAttribute("aria-busy");
}

// lab page -----------------------------------------------------------------------------------
async function labPage() {
  const name = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
  document.title = `dlabs · ${name}`;
  document.getElementById("crumb").textContent = name;
  const book = document.querySelector("nav a[href='/book']");
  if (book) book.href = `/book#lab-${encodeURIComponent(name)}`;  // the lab's chapter of the lab book
  let lab;
  try { lab = await api(`/api/labs/${encodeURIComponent(name)}`); } catch (e) { showError(e.message); return; }
  document.getElementById("title").textContent = lab.title;
  document.getElementById("subtitle").textContent = `${lab.task} · ${lab.input_kind} input · protocol: ${lab.protocol}`;
  if (!lab.run) {
    const box = document.getElementById("notrun");
    box.hidden = false;
    box.append("This lab has no trained run yet. Train one, then reload this page: ",
               h("code", {}, lab.train_command));
    document.getElementById("try").hidden = true;
    document.getElementById("model").hidden = true;
    return;
  }
  buildForm(lab);
  showModel(lab);
  showPlots(lab);
}

function buildForm(lab) {
  const form = document.getElementById("form");
  const spec = lab.form;
  document.getElementById("formhelp").textContent = spec.help || {
    tabular: "Type the values and press Predict.",
    text: "Type or paste a text and press Predict.",
    image: "Choose an image file" + (spec.draw ? ", or draw one," : "") + " and press Predict.",
    csv: "Choose a CSV file, or paste its text, and press Predict.",
  }[spec.kind] || "Choose a file and press Predict.";
  const state = { preview: null, drawn: null };

  if (spec.kind === "tabular") {
    form.append(h("div", { class: "fields" }, spec.fields.map((f) =>
      h("label", { title: f.help || null }, f.name,
        h("input", { type: "text", inputmode: "decimal", name: f.name, value: f.example ?? "", autocomplete: "off" })))));
  } else if (spec.kind === "text") {
    form.append(h("textarea", { name: "text", placeholder: "Type or paste text here", "aria-label": "text" }, spec.example || ""));
  } else {
    const file = h("input", { type: "file", name: "file", accept: spec.accept || null, "aria-label": "file" });
    file.addEventListener("change", () => {
      state.drawn = null;
      if (spec.kind === "image" && file.files.length) state.preview = URL.createObjectURL(file.files[0]);
    });
    form.append(h("div", { class: "row" }, file));
    if (spec.kind === "csv") {
      form.append(h("textarea", { name: "pasted", placeholder: "…or paste CSV text here (a header row, then rows)",
                                  "aria-label": "CSV text" }, spec.example || ""));
    }
    if (spec.kind === "image" && spec.draw) form.append(drawingPad(state));
  }
  if ((spec.options || []).length) {
    form.append(h("div", { class: "options" }, spec.options.map((o) => o.type === "boolean"
      ? h("label", { class: "check", title: o.help || null },  // sent as name=true only when ticked
          h("input", { type: "checkbox", name: o.name, value: "true", checked: o.default === true }),
          o.help ? `${o.name}: ${o.help}` : o.name)
      : h("label", { title: o.help || null }, o.help ? `${o.name} (${o.help})` : o.name,
          h("input", { type: "text", name: o.name, value: o.default ?? "", inputmode: o.type === "text" ? null : "decimal" })))));
  }
  const button = h("button", { type: "submit", id: "predict" }, "Predict");
  form.append(h("div", { class: "row" }, button));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError("");
    const data = new FormData(form);
    if (spec.kind === "csv") {
      const pasted = (data.get("pasted") || "").trim();
      data.delete("pasted");
      const chosen = data.get("file");
      if ((!chosen || !chosen.size) && pasted) data.set("file", new Blob([pasted + "\n"], { type: "text/csv" }), "pasted.csv");
    }
    if (spec.kind === "image" && state.drawn) {
      data.set("file", state.drawn, "drawing.png");
      state.preview = URL.createObjectURL(state.drawn);
    }
    if (data.has("file") && data.get("file") instanceof File && !data.get("file").size && !data.get("file").name) data.delete("file");
    button.disabled = true;
    button.textContent = "Predicting…";
    const result = document.getElementById("result");
    result.dataset.state = "busy";
    try {
      const out = await api(`/api/${encodeURIComponent(lab.lab)}/predict`, { method: "POST", body: data });
      result.replaceChildren(...renderPredictions(out.predictions, spec.kind === "image" ? state.preview : null));
      result.dataset.state = "ok";
    } catch (e) {
      result.replaceChildren();
      result.dataset.state = "error";
      showError(e.message);
    } finally {
      button.disabled = false;
      button.textContent = "Predict";
    }
  });
}

function drawingPad(state) {
  const size = 280;
  const pad = h("canvas", { class: "pad", width: size, height: size, "aria-label": "drawing pad" });
  const ctx = pad.getContext("2d");
  const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, size, size); state.drawn = null; };
  clear();
  let down = false;
  const at = (e) => { const r = pad.getBoundingClientRect(); return [(e.clientX - r.left) * size / r.width, (e.clientY - r.top) * size / r.height]; };
  pad.addEventListener("pointerdown", (e) => { down = true; ctx.beginPath(); ctx.moveTo(...at(e)); pad.setPointerCapture(e.pointerId); });
  pad.addEventListener("pointermove", (e) => {
    if (!down) return;
    ctx.lineTo(...at(e)); ctx.strokeStyle = "#fff"; ctx.lineWidth = 22; ctx.lineCap = ctx.lineJoin = "round"; ctx.stroke();
  });
  pad.addEventListener("pointerup", () => { down = false; pad.toBlob((b) => { state.drawn = b; }, "image/png"); });
  return h("div", { class: "row" }, pad, h("button", { type: "button", class: "secondary", onclick: clear }, "Clear drawing"));
}

function isImage(v) { return typeof v === "string" && v.startsWith("/api/artifacts/"); }
function isScalar(v) { return (typeof v === "number" || typeof v === "string" || typeof v === "boolean") && !isImage(v); }

function renderPredictions(preds, preview) {
  // several rows of plain values (a forecast per day, a price per house): one table, then the
  // images and other values that only some rows carry; anything else: one block per prediction
  const classified = preds.some((p) => "label" in p || "top" in p);
  if (preds.length < 2 || classified) return preds.map((p) => renderPrediction(p, preview));
  const keys = [...new Set(preds.flatMap((p) => Object.keys(p).filter((k) => isScalar(p[k]))))]
    .filter((k) => preds.filter((p) => k in p).length > 1);
  const main = h("div", { class: "main" }, h("table", { class: "rows" },
    h("tr", {}, keys.map((k) => h("th", {}, k))),
    preds.map((p) => h("tr", {}, keys.map((k) => h("td", {}, fmt(p[k])))))));
  const extra = {};
  preds.forEach((p) => Object.entries(p).forEach(([k, v]) => {
    if (keys.includes(k)) return;
    if (isImage(v)) main.append(h("figure", {}, h("img", { src: v, alt: k }), h("figcaption", {}, k)));
    else if (!(Array.isArray(v) && !v.length)) extra[k] = v;
  }));
  if (Object.keys(extra).length) main.append(valueTable(extra));
  return [h("div", { class: "prediction" }, main)];
}

function renderPrediction(p, preview) {
  const main = h("div", { class: "main" });
  const rest = {};
  const images = [];
  const scalars = Object.entries(p).filter(([k, v]) => typeof v === "number" || typeof v === "string");
  const first = Array.isArray(p.top) && p.top.length ? p.top[0] : null;
  if ("label" in p || first) {
    const label = "label" in p ? p.label : first.label;
    const prob = typeof p.probability === "number" ? p.probability
      : first && first.label === label ? first.probability : null;
    main.append(h("div", { class: "headline" }, fmt(label), prob !== null ? h("small", {}, `${(100 * prob).toFixed(1)}%`) : null));
  } else if (scalars.length === 1 && typeof scalars[0][1] === "number" && Object.keys(p).length === 1) {
    main.append(h("div", { class: "headline" }, fmt(scalars[0][1]), h("small", {}, scalars[0][0])));
    return h("div", { class: "prediction" }, main);  // a single number (a regression) says it all
  }
  for (const [k, v] of Object.entries(p)) {
    if (k === "top" && Array.isArray(v)) main.append(bars(v));
    else if (isImage(v)) images.push([k, v]);
    else if (k !== "label") rest[k] = v;
  }
  for (const [k, v] of images) main.append(h("figure", {}, h("img", { src: v, alt: k }), h("figcaption", {}, k)));
  if (Object.keys(rest).length) main.append(valueTable(rest));
  const box = h("div", { class: "prediction" });
  if (preview) box.append(h("div", { class: "side" }, h("img", { src: preview, alt: "your input" }), h("figcaption", {}, "your input")));
  box.append(main);
  return box;
}

function bars(top) {
  return h("div", { class: "bars" }, top.map((t, i) => [
    h("span", { class: "lbl" }, fmt(t.label)),
    h("div", { class: "track" }, h("div", { class: i === 0 ? "fill first" : "fill", style: `width:${Math.max(0, Math.min(100, 100 * t.probability))}%` })),
    h("span", { class: "pct" }, `${(100 * t.probability).toFixed(1)}%`)]));
}

function valueTable(obj) {
  return h("table", { class: "kv" }, Object.entries(obj).map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, renderValue(v)))));
}

function renderValue(v) {
  if (Array.isArray(v)) {
    if (v.length && v.every((x) => x && typeof x === "object" && !Array.isArray(x))) {
      const keys = [...new Set(v.flatMap((x) => Object.keys(x)))];
      return h("table", {}, h("tr", {}, keys.map((k) => h("th", {}, k))),
               v.slice(0, 50).map((x) => h("tr", {}, keys.map((k) => h("td", {}, fmt(x[k]))))));
    }
    const shown = v.slice(0, 30).map((x) => (typeof x === "object" ? JSON.stringify(x) : fmt(x))).join(", ");
    return v.length > 30 ? `${shown}, … (${v.length} values)` : shown;
  }
  if (v && typeof v === "object") return valueTable(v);
  return fmt(v);
}

function showModel(lab) {
  const info = document.getElementById("runinfo");
  const env = lab.env || {};
  info.append(h("p", { class: "runinfo" }, "Run ", h("code", {}, lab.run), ` · preset ${lab.preset}`,
    env.train_seconds !== undefined ? ` · trained in ${fmt(env.train_seconds)} s on ${env.device || "?"}` : "",
    env.epochs_run ? ` over ${env.epochs_run} epochs` : ""));
  const box = document.getElementById("metrics");
  const m = lab.metrics;
  if (!m) { box.append(h("p", { class: "hint" }, `Not evaluated yet: dlabs evaluate runs/${lab.lab}/${lab.run}`)); return; }
  box.append(h("p", { class: "hint" }, `${m.protocol}; ${m.split} split, used for nothing but this table.`));
  box.append(metricsTable(`this run (${lab.preset})`, m.model, m.baselines || {}, lab.lower_is_better || []));
  if ((m.verdict || []).length) {
    box.append(h("ul", { class: "verdict" }, m.verdict.map((v) => h("li", { class: v.includes("NOT") ? "bad" : "good" }, v))));
  }
  for (const [pname, p] of Object.entries(m.protocols || {})) {
    const baselines = Object.fromEntries(Object.entries(p.baselines || {}).map(([k, v]) => [k, { metrics: v }]));
    box.append(h("h3", { class: "hint" }, p.protocol || pname));
    box.append(metricsTable(`this config (${lab.preset})`, p.model || {}, baselines, lab.lower_is_better || []));
  }
}

function metricsTable(label, model, baselines, lowerIsBetter) {
  const rows = [[label, model, true], ...Object.entries(baselines).map(([k, b]) => [k, b.metrics || {}, false])];
  const keys = [...new Set(rows.flatMap(([, r]) => Object.keys(r)))].filter((k) => rows.some(([, r]) => typeof r[k] === "number"));
  const best = {};
  for (const k of keys) {
    const vals = rows.map(([, r]) => r[k]).filter((x) => typeof x === "number");
    best[k] = lowerIsBetter.includes(k) ? Math.min(...vals) : Math.max(...vals);
  }
  return h("table", { class: "metrics" },
    h("tr", {}, h("th", {}, "model"), keys.map((k) => h("th", {}, k))),
    rows.map(([name, r, mine]) => h("tr", { class: mine ? "this" : null }, h("td", {}, name),
      keys.map((k) => h("td", { class: r[k] === best[k] ? "best" : null }, fmt(r[k]))))));
}

function gallery(section, root, urls) {
  if (!(urls || []).length) return;
  document.getElementById(section).hidden = false;
  for (const url of urls) {
    const name = url.split("/").pop().replace(/\.png$/i, "").replace(/_/g, " ");
    document.getElementById(root).append(
      h("figure", {}, h("a", { href: url }, h("img", { src: url, alt: name, loading: "lazy" })), h("figcaption", {}, name)));
  }
}

function showPlots(lab) {
  gallery("plots-section", "plots", lab.plots);
  gallery("data-section", "data-plots", lab.data_plots);
  if (lab.report) {
    const link = document.getElementById("report-link");
    link.href = lab.report;
    link.hidden = false;
  }
}

if (document.body.dataset.page === "home") home();
else if (document.body.dataset.page === "lab") labPage();

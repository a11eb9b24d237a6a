// The page: frames in (dropped or chosen, probed by the server for their EXIF exposure time),
// options built from the server's flag schemas (GET /api/options), a job with its progress
// streamed back (Server-Sent Events), and the HDR shown and tone mapped here (./hdr.js).
// body[data-state] says where the page is: loading, idle, ready, running, done, failed.

import { decodeRgbe, downsample, hdrStats, TONE_MAPS, toneMap } from "./hdr.js";

const $ = (s) => document.querySelector(s);
/** Formats the browser shows itself; the server makes thumbnails of the others. */
const SHOWN = /\.(jpe?g|png)$/i;
/** The on-screen view's long edge, in pixels. */
const VIEW_SIDE = 1600;

const page = {
  limits: null,
  controls: [],
  /** { file, name, time (s, EXIF), ev, edited, thumb, error } in the order sent. */
  frames: [],
  job: null,
  events: null,
  /** { full, view (float images), stats, reference (HTMLImageElement), name } */
  result: null,
};

function setState(s) {
  document.body.dataset.state = s;
}

/** Shows one sentence; null clears it. */
function showError(message) {
  const el = $("#error");
  el.hidden = message === null;
  el.textContent = message ?? "";
}

async function errorOf(response) {
  try {
    return (await response.json()).error ?? `the server answered ${response.status}`;
  } catch {
    return `the server answered ${response.status}`;
  }
}

// --- options, from the flag schemas --------------------------------------------------------

function controlElement(c) {
  const label = document.createElement("label");
  label.title = c.help + (c.default ? ` (default ${c.default})` : "");
  label.append(c.name === "model" ? "model " : `--${c.name} `);
  let value;
  if (c.boolean) {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = c.default === "true";
    label.append(box);
    value = () => String(box.checked);
  } else {
    const select = document.createElement("select");
    const free = document.createElement("input");
    for (const [i, v] of c.choices.entries()) select.add(new Option(c.labels?.[i] ?? v, v));
    if (c.input) {
      select.add(new Option(c.input === "file" ? "a file…" : "a number…", "\u0000"));
      free.type = c.input;
      if (c.input === "number") free.step = "any";
    }
    if (c.choices.length) label.append(select);
    if (c.input) label.append(free);
    const sync = () => free.hidden = c.choices.length > 0 && select.value !== "\u0000";
    if (c.choices.includes(c.default)) select.value = c.default;
    else if (c.input === "number") {
      select.value = "\u0000";
      free.value = c.default;
      free.placeholder = c.default === "" ? "default" : "";
    }
    select.addEventListener("change", sync);
    sync();
    value = () => {
      if (c.choices.length && select.value !== "\u0000") return select.value;
      return c.input === "file" ? free.files[0] ?? "" : free.value;
    };
  }
  const small = document.createElement("small");
  small.textContent = c.help;
  label.append(small);
  return { control: c, label, value };
}

async function loadOptions() {
  const r = await fetch("/api/options");
  if (!r.ok) throw new Error(await errorOf(r));
  const o = await r.json();
  page.limits = o.limits;
  page.controls = o.controls.map(controlElement);
  for (const c of page.controls) $(`#${c.control.group}-options`).append(c.label);
  $("#drop-text").firstChild.textContent =
    `Drop ${o.limits.minFiles} to ${o.limits.maxFiles} exposures here, or `;
  for (const [k, label] of Object.entries(TONE_MAPS)) $("#tonemap").add(new Option(label, k));
}

// --- frames --------------------------------------------------------------------------------

/** EVs as loadBracket reads EXIF: log2 of each time over the first frame's. */
function exifEvs() {
  const t0 = page.frames[0]?.time;
  for (const f of page.frames) {
    if (!f.edited) f.ev = f.time && t0 ? Math.log2(f.time / t0) : null;
  }
}

/** The EVs to send, or undefined to let the server read EXIF exactly as infer does. */
function evsToSend() {
  const exif = page.frames.every((f) => f.time && !f.edited);
  return exif ? undefined : page.frames.map((f) => f.ev).join(",");
}

function renderFrames() {
  const list = $("#frames");
  list.replaceChildren();
  for (const [i, f] of page.frames.entries()) {
    const li = document.createElement("li");
    const img = document.createElement("img");
    img.alt = f.name;
    if (f.thumb) img.src = f.thumb;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = `${i + 1}. ${f.name}`;
    const ev = document.createElement("input");
    ev.type = "number";
    ev.step = "any";
    ev.className = "ev";
    ev.title = "exposure in stops (any origin: the network sees differences)";
    ev.value = f.ev === null ? "" : String(Math.round(f.ev * 100) / 100);
    ev.addEventListener("change", () => {
      f.ev = ev.value === "" ? null : Number(ev.value);
      f.edited = true;
      renderFrames();
    });
    const source = document.createElement("small");
    source.textContent = f.edited
      ? "EV set here"
      : f.time
      ? `EV from EXIF (1/${Math.round(1 / f.time)} s)`
      : f.probing
      ? "reading…"
      : "no EXIF time: set the EV";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = "×";
    remove.title = "remove this frame";
    remove.addEventListener("click", () => {
      page.frames.splice(i, 1);
      exifEvs();
      renderFrames();
    });
    li.append(img, name, ev, source, remove);
    if (f.error) {
      const err = document.createElement("small");
      err.className = "frame-error";
      err.textContent = f.error;
      li.append(err);
    }
    list.append(li);
  }
  const n = page.frames.length, { minFiles, maxFiles } = page.limits;
  const ready = n >= minFiles && n <= maxFiles &&
    page.frames.every((f) => !f.error && !f.probing && f.ev !== null && Number.isFinite(f.ev));
  $("#frames-note").textContent = n === 0
    ? ""
    : n < minFiles
    ? `A bracket needs at least ${minFiles} frames.`
    : n > maxFiles
    ? `This server takes at most ${maxFiles} frames.`
    : "";
  const state = document.body.dataset.state;
  $("#start").disabled = !ready || state === "running";
  if (["loading", "idle", "ready"].includes(state)) setState(ready ? "ready" : "idle");
}

async function probe(f) {
  const q = new URLSearchParams({ name: f.name });
  if (!SHOWN.test(f.name)) q.set("thumbnail", "1");
  const r = await fetch(`/api/probe?${q}`, { method: "POST", body: f.file });
  if (!r.ok) {
    f.error = await errorOf(r);
    return;
  }
  const p = await r.json();
  f.time = p.exposureTime;
  if (p.thumbnail) f.thumb = p.thumbnail;
}

async function addFiles(list) {
  showError(null);
  const added = [...list].sort((a, b) => a.name.localeCompare(b.name)).map((file) => ({
    file,
    name: file.name,
    time: null,
    ev: null,
    edited: false,
    thumb: SHOWN.test(file.name) ? URL.createObjectURL(file) : null,
    error: file.size > page.limits.maxFileBytes
      ? `${file.name} is over the server's limit of ${page.limits.maxFileBytes / 1e6} MB per file`
      : null,
    probing: true,
  }));
  page.frames.push(...added);
  renderFrames();
  await Promise.all(added.map(async (f) => {
    if (!f.error) await probe(f).catch((e) => f.error = e.message);
    f.probing = false;
  }));
  // Shortest exposure first, as photographers lay out a bracket; frames with no time last.
  page.frames.sort((a, b) => (a.time ?? Infinity) - (b.time ?? Infinity));
  exifEvs();
  renderFrames();
}

// --- the job -------------------------------------------------------------------------------

/** The latest progress event and when it came, so the clock runs between events. */
let lastProgress = null;

function showProgress(e) {
  const status = $("#status");
  if (e.type === "waiting") {
    lastProgress = null;
    status.textContent = e.position === 0
      ? "Queued."
      : `Waiting: ${e.position === 1 ? "next" : `number ${e.position}`} in the queue.`;
    $("#bar-fill").style.width = "0%";
    return;
  }
  lastProgress = { e, at: performance.now() };
  tick();
  $("#bar-fill").style.width = `${(100 * e.fraction).toFixed(1)}%`;
}

/** The status line: stage, count, seconds so far and (estimated) left, counted on locally. */
function tick() {
  if (!lastProgress || document.body.dataset.state !== "running") return;
  const { e, at } = lastProgress, since = (performance.now() - at) / 1000;
  const left = e.left === null ? "" : `, about ${Math.max(0, Math.ceil(e.left - since))} s left`;
  $("#status").textContent = `${e.stage} ${e.total > 1 ? `${e.done}/${e.total}` : ""} (${
    (e.elapsed + since).toFixed(0)
  } s${left})`;
}
setInterval(tick, 1000);

async function start() {
  showError(null);
  const form = new FormData();
  for (const f of page.frames) form.append("frame", f.file, f.name);
  const evs = evsToSend();
  if (evs !== undefined) form.append("evs", evs);
  for (const c of page.controls) {
    const v = c.value();
    if (v !== "") form.append(c.control.name, v);
  }
  setState("running");
  $("#start").disabled = true;
  $("#progress").hidden = false;
  $("#status").textContent = "Uploading…";
  $("#bar-fill").style.width = "0%";
  const r = await fetch("/api/jobs", { method: "POST", body: form }).catch((e) => e);
  if (!(r instanceof Response) || !r.ok) {
    return fail(r instanceof Response ? await errorOf(r) : "the server cannot be reached");
  }
  const { id } = await r.json();
  page.job = id;
  $("#cancel").hidden = false;
  const events = page.events = new EventSource(`/api/jobs/${id}/events`);
  events.onmessage = (m) => {
    const e = JSON.parse(m.data);
    if (e.type === "waiting" || e.type === "progress") showProgress(e);
    else {
      events.close();
      $("#cancel").hidden = true;
      if (e.type === "done") showResult(id, e.result).catch((err) => fail(err.message));
      else fail(e.type === "cancelled" ? `The job was ${e.message}.` : e.message);
    }
  };
  events.onerror = () => {
    if (events.readyState === EventSource.CLOSED) fail("the server closed the connection");
  };
}

function fail(message) {
  page.events?.close();
  $("#cancel").hidden = true;
  $("#progress").hidden = true;
  showError(message);
  setState("failed");
  renderFrames();
}

// --- the result ----------------------------------------------------------------------------

async function showResult(id, info) {
  $("#status").textContent = "Loading the HDR…";
  const r = await fetch(`/api/jobs/${id}/result.hdr`);
  if (!r.ok) throw new Error(await errorOf(r));
  const full = decodeRgbe(new Uint8Array(await r.arrayBuffer()));
  const reference = new Image();
  reference.src = `/api/jobs/${id}/reference.png`;
  await reference.decode();
  page.result = {
    full,
    view: downsample(full, VIEW_SIDE),
    stats: hdrStats(full),
    reference,
    name: info.frames[1].name.replace(/\.[^.]*$/, ""),
  };
  $("#download-exr").href = `/api/jobs/${id}/result.exr?download`;
  $("#download-hdr").href = `/api/jobs/${id}/result.hdr?download`;
  $("#download-response").href = `/api/jobs/${id}/result.response.json?download`;
  $("#download-response").hidden = !info.responseSaved;
  const frames = info.frames.map((f) => `${f.name} (EV ${f.ev.toFixed(2)}, ${f.role})`);
  $("#summary").textContent =
    `${info.width}×${info.height}; the network saw ${
      frames.join(", ")
    }; response: ${info.response}; ${info.steps} DDIM steps, seed ${info.seed}; ${
      info.seconds.total.toFixed(1)
    } s. ` +
    `Values are in shortest-exposure units (1.0 saturates the shortest frame). ` +
    info.frames.filter((f) => f.role !== "reference").map((f) =>
      `${f.alignment[0].toUpperCase()}${f.alignment.slice(1)}.`
    ).join(" ") +
    (info.notes.length ? ` ${info.notes.join(" ")}` : "");
  $("#progress").hidden = true;
  $("#result").hidden = false;
  draw();
  setState("done");
  renderFrames();
}

/** Tone maps the view and overlays the reference frame left of the compare line. */
function draw() {
  const res = page.result;
  if (!res) return;
  const { view, stats, reference } = res;
  const canvas = $("#view"), ctx = canvas.getContext("2d");
  canvas.width = view.width;
  canvas.height = view.height;
  const exposure = Number($("#exposure").value), operator = $("#tonemap").value;
  const pixels = ctx.createImageData(view.width, view.height);
  toneMap(view, stats, operator, exposure, pixels.data);
  ctx.putImageData(pixels, 0, 0);
  const split = Number($("#compare").value) / 100;
  if (split > 0) {
    const x = Math.round(split * view.width);
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, 0, x, view.height);
    ctx.clip();
    ctx.drawImage(reference, 0, 0, view.width, view.height);
    ctx.restore();
    ctx.fillStyle = "#fff";
    ctx.fillRect(x - 1, 0, 2, view.height);
  }
  $("#exposure-value").textContent = `${exposure >= 0 ? "+" : ""}${exposure.toFixed(1)} EV`;
  $("#compare-value").textContent = split > 0 ? "reference | HDR" : "HDR";
}

/** The whole image tone mapped as shown, as a PNG or a JPEG (the browser's encoders). */
function downloadView(type) {
  const { full, stats, name } = page.result;
  const canvas = document.createElement("canvas");
  canvas.width = full.width;
  canvas.height = full.height;
  const ctx = canvas.getContext("2d");
  const pixels = ctx.createImageData(full.width, full.height);
  toneMap(full, stats, $("#tonemap").value, Number($("#exposure").value), pixels.data);
  ctx.putImageData(pixels, 0, 0);
  canvas.toBlob(
    (blob) => {
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = `${name}-${$("#tonemap").value}.${type === "image/png" ? "png" : "jpg"}`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
    },
    type,
    0.92,
  );
}

// --- wiring --------------------------------------------------------------------------------

const drop = $("#drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  addFiles(e.dataTransfer.files);
});
$("#files").addEventListener("change", (e) => {
  addFiles(e.target.files);
  e.target.value = "";
});
$("#start").addEventListener("click", () => start().catch((e) => fail(e.message)));
$("#cancel").addEventListener("click", () => {
  if (page.job) fetch(`/api/jobs/${page.job}`, { method: "DELETE" });
});
for (const id of ["#exposure", "#tonemap", "#compare"]) $(id).addEventListener("input", draw);
$("#download-png").addEventListener("click", () => downloadView("image/png"));
$("#download-jpeg").addEventListener("click", () => downloadView("image/jpeg"));

loadOptions().then(() => renderFrames(), (e) => {
  showError(`The options could not be loaded: ${e.message}`);
  setState("failed");
});

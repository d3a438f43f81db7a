// The videolights demo page: upload (or pick) a video, submit a query, poll the job, draw the results.
// Plain JavaScript, no libraries; every request goes to the server that served this page.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg"; // an XML namespace name, never fetched
const state = { clipLen: 2, examples: {}, upload: null };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function showMessage(text) {
  $("message").textContent = text || "";
  $("message").hidden = !text;
}

function showStatus(stage, progress, elapsed) {
  $("status").hidden = stage === null;
  $("stage").textContent = elapsed === undefined ? stage || "" : `${stage} (${elapsed.toFixed(0)} s)`;
  $("progress").value = progress || 0;
}

// fetch `url`; the JSON body, or an Error carrying the server's one-line message
async function api(url, options) {
  const r = await fetch(url, options);
  const isJson = (r.headers.get("content-type") || "").includes("json");
  const body = isJson ? await r.json() : { error: (await r.text()) || r.statusText };
  if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
  return body;
}

async function loadInfo() {
  const info = await api("/api/info");
  state.clipLen = info.clip_len;
  $("model-info").textContent =
    `checkpoint ${info.checkpoint} · features ${info.video_blocks.join(" + ")} · ${info.clip_len}-s clips`;
  for (const ex of info.examples) {
    state.examples[ex.id] = ex;
    const option = document.createElement("option");
    option.value = ex.id;
    option.textContent = `${ex.name} (${ex.duration.toFixed(0)} s)`;
    $("example").append(option);
  }
}

// the chosen video: the file (uploaded once, then reused) or the example
async function chooseVideo() {
  const file = $("video-file").files[0];
  if (!file) {
    const example = state.examples[$("example").value];
    if (!example) throw new Error("choose a video file or an example first");
    return example;
  }
  const key = [file.name, file.size, file.lastModified].join("/");
  if (state.upload && state.upload.key === key) return state.upload.video;
  showStatus(`uploading ${file.name}`, 0);
  const form = new FormData();
  form.append("video", file);
  const video = await api("/api/videos", { method: "POST", body: form });
  state.upload = { key, video };
  return video;
}

function setPlayer(video) {
  const player = $("player");
  if (player.dataset.videoId !== video.id) {
    player.dataset.videoId = video.id;
    player.src = video.url;
  }
}

function seek(seconds) {
  const player = $("player");
  player.currentTime = seconds;
  player.play().catch(() => {}); // a browser may refuse to autoplay: the seek still happened
}

async function runJob(video, query) {
  const headers = { "Content-Type": "application/json" };
  let job = await api("/api/jobs", { method: "POST", headers, body: JSON.stringify({ video_id: video.id, query }) });
  while (job.state === "queued" || job.state === "running") {
    showStatus(job.stage, job.progress, job.elapsed);
    await sleep(250);
    job = await api(`/api/jobs/${job.id}`);
  }
  if (job.state === "error") throw new Error(job.message);
  return job.result;
}

async function onSubmit(event) {
  event.preventDefault();
  showMessage("");
  $("run").disabled = true;
  try {
    const video = await chooseVideo();
    setPlayer(video);
    const result = await runJob(video, $("query").value);
    renderResults(result);
  } catch (err) {
    showMessage(err.message);
  } finally {
    showStatus(null);
    $("run").disabled = false;
  }
}

function renderResults(result) {
  renderTable(result.pred_relevant_windows);
  drawSaliency($("saliency"), result.pred_saliency_scores, result.pred_relevant_windows, result.clip_len);
  renderThumbs(result.thumbs);
  $("results").hidden = false;
}

function renderTable(windows) {
  const body = $("moments").tBodies[0];
  body.replaceChildren();
  windows.forEach(([start, end, score], k) => {
    const row = body.insertRow();
    row.className = `w${k}`;
    for (const text of [k + 1, start.toFixed(1), end.toFixed(1), score.toFixed(3)]) row.insertCell().textContent = text;
    row.addEventListener("click", () => seek(start));
  });
}

function renderThumbs(thumbs) {
  $("thumbs").replaceChildren(
    ...thumbs.map((t) => {
      const figure = document.createElement("figure");
      const img = document.createElement("img");
      img.src = t.url;
      img.alt = `clip ${t.clip}`;
      const caption = document.createElement("figcaption");
      caption.textContent = `${t.start.toFixed(0)}–${t.end.toFixed(0)} s · ${t.score.toFixed(3)}`;
      figure.append(img, caption);
      figure.addEventListener("click", () => seek(t.start));
      return figure;
    })
  );
}

function svgEl(parent, tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  parent.append(e);
  return e;
}

// a round tick step (1, 2 or 5 times a power of ten) of at least `raw`
function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((f) => f * p).find((s) => s >= raw);
}

// the saliency curve (one point per clip, at its centre) over the top three windows, with time ticks and a playhead
function drawSaliency(svg, scores, windows, clipLen) {
  svg.replaceChildren();
  const W = 800, H = 240, m = { l: 46, r: 12, t: 10, b: 34 };
  const T = scores.length * clipLen;
  const lo = Math.min(...scores), hi = Math.max(...scores), span = hi - lo || 1;
  const x = (t) => m.l + (t / T) * (W - m.l - m.r);
  const y = (s) => H - m.b - ((s - lo) / span) * (H - m.t - m.b);
  windows.slice(0, 3).forEach(([start, end, score], k) => {
    const rect = svgEl(svg, "rect", { class: `window w${k}`, x: x(start), y: m.t, width: Math.max(x(end) - x(start), 1),
      height: H - m.t - m.b });
    svgEl(rect, "title", {}, `#${k + 1}: ${start}–${end} s, score ${score.toFixed(3)}`);
  });
  svgEl(svg, "line", { class: "axis", x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b });
  svgEl(svg, "line", { class: "axis", x1: m.l, x2: m.l, y1: m.t, y2: H - m.b });
  const step = niceStep(T / 8);
  for (let t = 0; t <= T + 1e-9; t += step) {
    svgEl(svg, "line", { class: "axis", x1: x(t), x2: x(t), y1: H - m.b, y2: H - m.b + 4 });
    svgEl(svg, "text", { x: x(t), y: H - m.b + 16, "text-anchor": "middle" }, `${+t.toFixed(1)}`);
  }
  svgEl(svg, "text", { x: W - m.r, y: H - 4, "text-anchor": "end" }, "time (s)");
  const digits = Math.min(Math.max(2, 1 - Math.floor(Math.log10(span))), 6); // enough to tell `lo` from `hi`
  svgEl(svg, "text", { x: m.l - 6, y: y(hi) + 4, "text-anchor": "end" }, hi.toFixed(digits));
  svgEl(svg, "text", { x: m.l - 6, y: y(lo), "text-anchor": "end" }, lo.toFixed(digits));
  const points = scores.map((s, i) => [x((i + 0.5) * clipLen), y(s)]);
  const d = points.map(([px, py], i) => `${i ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`).join(" ");
  svgEl(svg, "path", { class: "curve", d });
  for (const [px, py] of points) svgEl(svg, "circle", { class: "dot", cx: px, cy: py, r: 2.5 });
  const head = svgEl(svg, "line", { class: "playhead", id: "playhead", x1: m.l, x2: m.l, y1: m.t, y2: H - m.b });
  const moveHead = () => {
    const px = x(Math.min($("player").currentTime || 0, T));
    head.setAttribute("x1", px);
    head.setAttribute("x2", px);
  };
  $("player").ontimeupdate = moveHead;
  moveHead();
  svg.onclick = (event) => {
    const box = svg.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * W;
    seek(Math.min(Math.max(((px - m.l) / (W - m.l - m.r)) * T, 0), T));
  };
}

document.addEventListener("DOMContentLoaded", () => {
  $("query-form").addEventListener("submit", onSubmit);
  $("video-file").addEventListener("change", () => { $("example").value = ""; });
  $("example").addEventListener("change", () => { $("video-file").value = ""; });
  loadInfo().catch((err) => showMessage(`cannot reach the demo server: ${err.message}`));
});

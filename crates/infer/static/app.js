// The page of `infer serve`: draw a digit, see what the model reads while you
// draw, and browse MNIST test digits with the model's answers. Plain JS, no
// build step; talks only to this server's /api endpoints.
"use strict";

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const ctx = pad.getContext("2d");
const bars = $("bars");
const digitEl = $("digit");
const confidenceEl = $("confidence");
const seen = $("seen");
const statusEl = $("status");
const samplesEl = $("samples");

const pct = (p) => (100 * p).toFixed(p >= 0.9995 || p < 0.0005 ? 0 : 1) + "%";

function setStatus(message) {
  statusEl.textContent = message || "";
  statusEl.classList.toggle("error", Boolean(message));
}

// GET or POST, then the JSON body; throws an Error carrying the server's
// one-line {"error": ...} for a 4xx/5xx.
async function api(path, options) {
  let res;
  try {
    res = await fetch(path, options);
  } catch (e) {
    throw new Error("the server cannot be reached");
  }
  let body = null;
  try {
    body = await res.json();
  } catch (e) {
    /* not JSON: reported below */
  }
  if (!res.ok) throw new Error((body && body.error) || `${path}: HTTP ${res.status}`);
  if (body === null) throw new Error(`${path}: the answer is not JSON`);
  return body;
}

// 784 grey levels (0-255, row-major 28x28) onto a 28x28 canvas.
function drawPixels(canvas, pixels) {
  const c = canvas.getContext("2d");
  const img = c.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = pixels[i] | 0;
    img.data.set([v, v, v, 255], 4 * i);
  }
  c.putImageData(img, 0, 0);
}

function blank(canvas) {
  const c = canvas.getContext("2d");
  c.fillStyle = "#000";
  c.fillRect(0, 0, canvas.width, canvas.height);
}

// ---- the bar chart ----------------------------------------------------------

for (let d = 0; d < 10; d++) {
  const bar = document.createElement("div");
  bar.className = "bar";
  bar.dataset.digit = String(d);
  bar.innerHTML = `<span class="label">${d}</span><span class="track"><span class="fill"></span></span><span class="pct"></span>`;
  bars.appendChild(bar);
}

function showAnswer(answer) {
  const probs = answer.probabilities;
  for (const bar of bars.children) {
    const d = Number(bar.dataset.digit);
    const p = probs[d];
    bar.dataset.p = String(p);
    bar.querySelector(".fill").style.width = `${(100 * p).toFixed(2)}%`;
    bar.querySelector(".pct").textContent = pct(p);
    bar.classList.toggle("top", d === answer.prediction);
  }
  digitEl.textContent = String(answer.prediction);
  confidenceEl.textContent = `${pct(answer.probability)} sure`;
  drawPixels(seen, answer.preprocessed);
}

function resetAnswer() {
  for (const bar of bars.children) {
    delete bar.dataset.p;
    bar.querySelector(".fill").style.width = "0";
    bar.querySelector(".pct").textContent = "";
    bar.classList.remove("top");
  }
  digitEl.textContent = "";
  confidenceEl.textContent = "";
  blank(seen);
}

// ---- live predictions: at most one request in flight ------------------------

let ink = false; // something drawn since the last clear
let dirty = false; // the drawing changed since the last request was sent
let inFlight = false;
let generation = 0; // bumped by Clear, so a late answer for an old drawing is dropped

function predictSoon() {
  dirty = true;
  if (!inFlight) predict();
}

async function predict() {
  if (!dirty || !ink) return;
  dirty = false;
  inFlight = true;
  document.body.dataset.predicting = "1";
  const gen = generation;
  try {
    const png = await new Promise((resolve) => pad.toBlob(resolve, "image/png"));
    if (!png) throw new Error("the browser could not encode the drawing");
    const answer = await api("/api/predict", {
      method: "POST",
      headers: { "Content-Type": "image/png" },
      body: png,
    });
    if (gen === generation) {
      showAnswer(answer);
      setStatus("");
    }
  } catch (e) {
    if (gen === generation) setStatus(e.message);
  } finally {
    inFlight = false;
    delete document.body.dataset.predicting;
    if (dirty && ink) predict();
  }
}

// ---- drawing ---------------------------------------------------------------

ctx.lineCap = "round";
ctx.lineJoin = "round";
ctx.lineWidth = 19;
ctx.strokeStyle = "#fff";
ctx.fillStyle = "#fff";

let last = null; // the pointer's last position while a stroke is on

// Pointer position in canvas-buffer pixels, whatever size the canvas is shown at.
function at(e) {
  const r = pad.getBoundingClientRect();
  return {
    x: ((e.clientX - r.left - pad.clientLeft) * pad.width) / pad.clientWidth,
    y: ((e.clientY - r.top - pad.clientTop) * pad.height) / pad.clientHeight,
  };
}

function clearPad() {
  generation++;
  ink = false;
  dirty = false;
  last = null;
  blank(pad);
  ctx.fillStyle = "#fff";
  resetAnswer();
  setStatus("");
}

pad.addEventListener("pointerdown", (e) => {
  if (e.button !== 0) return;
  e.preventDefault();
  pad.setPointerCapture(e.pointerId);
  last = at(e);
  ctx.beginPath();
  ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, 2 * Math.PI);
  ctx.fill();
  ink = true;
  predictSoon();
});

pad.addEventListener("pointermove", (e) => {
  if (!last) return;
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
  ctx.beginPath();
  ctx.moveTo(last.x, last.y);
  for (const ev of events.length ? events : [e]) {
    last = at(ev);
    ctx.lineTo(last.x, last.y);
  }
  ctx.stroke();
  predictSoon();
});

function endStroke() {
  if (!last) return;
  last = null;
  predictSoon();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);
pad.addEventListener("lostpointercapture", endStroke);

$("clear").addEventListener("click", clearPad);

// ---- model line and test samples --------------------------------------------

async function loadModel() {
  const el = $("model");
  try {
    const m = await api("/api/model");
    const parts = [m.architecture, `${Number(m.parameters).toLocaleString("en")} parameters`, `backend ${m.backend}`];
    if (m.test_accuracy != null) parts.push(`test accuracy ${(100 * m.test_accuracy).toFixed(2)}%`);
    el.textContent = parts.join(" · ");
    el.title = `run ${m.run}`;
    el.dataset.state = "ok";
  } catch (e) {
    el.textContent = `model: ${e.message}`;
    el.dataset.state = "error";
  }
}

async function loadSamples() {
  const more = $("more");
  more.disabled = true;
  try {
    const { samples } = await api("/api/samples?count=8");
    samplesEl.replaceChildren(
      ...samples.map((s) => {
        const fig = document.createElement("figure");
        const wrong = s.prediction !== s.label;
        fig.className = wrong ? "sample wrong" : "sample";
        fig.title = `test image #${s.index}`;
        const canvas = document.createElement("canvas");
        canvas.width = canvas.height = 28;
        drawPixels(canvas, s.pixels);
        const cap = document.createElement("figcaption");
        const sure = document.createElement("span");
        sure.textContent = ` (${pct(s.probability)})${wrong ? " ✗" : ""}`;
        cap.append(`label ${s.label} → predicted ${s.prediction}`, sure);
        fig.append(canvas, cap);
        return fig;
      }),
    );
    samplesEl.dataset.state = "ok";
  } catch (e) {
    samplesEl.replaceChildren();
    samplesEl.textContent = `No test digits: ${e.message}`;
    samplesEl.dataset.state = "error";
  } finally {
    more.disabled = false;
  }
}

$("more").addEventListener("click", loadSamples);

// Every promise above is caught; this only keeps a surprise out of the console.
window.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  setStatus(String((e.reason && e.reason.message) || e.reason));
});

clearPad();
loadModel();
loadSamples();

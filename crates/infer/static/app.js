// The drawing page: draw a digit, see what the model reads while you draw,
// and browse MNIST test digits with the model's answers. Plain JS modules, no
// build step. The same files make the page of `infer serve` and the static
// site `infer export --format web` writes; `page.json` says which:
//
//   {"server": bool,  // this server's /api answers (infer serve)
//    "browser": bool, // model.onnx and onnxruntime-web's files in ort/ are here
//    "model": {"architecture", "parameters", "backend", "test_accuracy", ...},
//    "samples": [{"index", "label", "pixels"}]}  // without a server: test digits
//
// "On the server" posts the drawing as a PNG to api/predict; "in your
// browser" preprocesses it here (preprocess.js, the same steps as the
// server's) and runs model.onnx in onnxruntime-web (runtime.js). Every URL
// is relative, so the site works from any directory of any static server.
"use strict";

import { grayOf, mnistStyle } from "./preprocess.js";
import { loadBrowserModel } from "./runtime.js";

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const ctx = pad.getContext("2d", { willReadFrequently: true });
const bars = $("bars");
const digitEl = $("digit");
const confidenceEl = $("confidence");
const seen = $("seen");
const statusEl = $("status");
const samplesEl = $("samples");
const modelEl = $("model");

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

// ---- where the model runs ---------------------------------------------------

let page = { server: false, browser: false, model: {}, samples: [] };
let mode = "server"; // or "browser"
let browserModel = null; // a promise of runtime.js's probabilities(images)

// The answer to one image, as api/predict gives it.
function answerOf(probabilities, preprocessed) {
  const prediction = probabilities.indexOf(Math.max(...probabilities));
  return { prediction, probability: probabilities[prediction], probabilities, preprocessed };
}

function modelInBrowser() {
  browserModel ??= loadBrowserModel();
  return browserModel;
}

// The drawing's answer from the server: the pad as a PNG.
async function readOnServer() {
  const png = await new Promise((resolve) => pad.toBlob(resolve, "image/png"));
  if (!png) throw new Error("the browser could not encode the drawing");
  return api("api/predict", { method: "POST", headers: { "Content-Type": "image/png" }, body: png });
}

// The drawing's answer from this browser: preprocessed here, run here.
async function readInBrowser() {
  const { data, width, height } = ctx.getImageData(0, 0, pad.width, pad.height);
  const digit = mnistStyle(grayOf(data, width, height), width, height);
  if (!digit) throw new Error("blank: no ink darker or brighter than the paper was found");
  const [probabilities] = await (await modelInBrowser())([digit]);
  return answerOf(probabilities, Array.from(digit));
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

// ---- live predictions: at most one in flight --------------------------------

let ink = false; // something drawn since the last clear
let dirty = false; // the drawing changed since the last prediction started
let inFlight = false;
let generation = 0; // bumped by Clear and by a change of mode: a late answer is dropped

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
    const answer = await (mode === "browser" ? readInBrowser() : readOnServer());
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

// ---- model line, mode and test samples -----------------------------------------

function showModel() {
  const m = page.model;
  const runtime = mode === "browser" ? "onnxruntime-web in your browser" : `backend ${m.backend} on the server`;
  const parts = [m.architecture, `${Number(m.parameters).toLocaleString("en")} parameters`, runtime];
  if (m.test_accuracy != null) parts.push(`test accuracy ${(100 * m.test_accuracy).toFixed(2)}%`);
  modelEl.textContent = parts.join(" · ");
  modelEl.title = `run ${m.run}`;
}

// Up to 8 test digits with the model's answers: from the server's api/samples,
// or drawn from page.json's set and answered in the browser.
async function sampleDigits(count) {
  if (page.server) {
    const { samples } = await api(`api/samples?count=${count}`);
    if (mode === "server") return samples;
    return answerSamples(samples);
  }
  const pool = [...page.samples];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return answerSamples(pool.slice(0, count));
}

async function answerSamples(samples) {
  const rows = await (await modelInBrowser())(samples.map((s) => s.pixels));
  return samples.map((s, i) => ({ ...s, ...answerOf(rows[i], s.pixels) }));
}

async function loadSamples() {
  const more = $("more");
  more.disabled = true;
  try {
    const samples = await sampleDigits(8);
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

// Runs the model where `next` says; the current drawing and the samples are
// answered again there.
async function setMode(next) {
  mode = next;
  document.body.dataset.mode = mode;
  for (const input of document.querySelectorAll("input[name=mode]")) input.checked = input.value === mode;
  generation++;
  resetAnswer();
  delete modelEl.dataset.state;
  showModel();
  try {
    if (mode === "browser") await modelInBrowser();
    modelEl.dataset.state = "ok";
  } catch (e) {
    modelEl.textContent = `the model cannot run in this browser: ${e.message}`;
    modelEl.dataset.state = "error";
    samplesEl.dataset.state = "error";
    return;
  }
  dirty = true;
  if (!inFlight) predict();
  delete samplesEl.dataset.state;
  await loadSamples();
}

$("more").addEventListener("click", loadSamples);
for (const input of document.querySelectorAll("input[name=mode]")) {
  input.addEventListener("change", () => input.checked && setMode(input.value));
}

// Every promise above is caught; this only keeps a surprise out of the console.
window.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  setStatus(String((e.reason && e.reason.message) || e.reason));
});

async function start() {
  clearPad();
  try {
    page = await api("page.json");
  } catch (e) {
    modelEl.textContent = `model: ${e.message}`;
    modelEl.dataset.state = "error";
    return;
  }
  $("modes").hidden = !(page.server && page.browser);
  await setMode(page.server ? "server" : "browser");
}

start();

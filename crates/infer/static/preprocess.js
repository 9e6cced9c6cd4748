// A drawing turned into the 28x28 digit the network reads, the way MNIST was
// made: the same steps, with the same arithmetic, as `data::own_image` in
// Rust (crates/data/src/own_image.rs), so that the page running the model in
// the browser sees what `infer --image` and `infer serve` see.
//
// grayscale -> ink levels (dark-on-light inverted, stretched to 0..255)
// -> crop to the ink -> longer side scaled to 20 px (image-rs's Triangle
// filter) -> pasted into 28x28 with the ink's centre of mass on (14, 14).
//
// Where Rust computes in f32, this rounds every step to f32 with
// Math.fround; where it computes in f64, so does JS.
"use strict";

export const SIDE = 28;
export const PIXELS = SIDE * SIDE;
const INK_BOX = 20; // side of the box the ink is scaled into
const MIN_INK = 40; // weaker ink than this above the paper: blank
const BOX_THRESHOLD = 64; // ink counted in the crop box: a quarter of the strongest

const f32 = Math.fround;
// Rust's f64::round: halves away from zero (Math.round sends -0.5 to -0).
const roundHalfAway = (x) => Math.sign(x) * Math.round(Math.abs(x));
const clamp = (x, lo, hi) => Math.min(Math.max(x, lo), hi);

/// Grey levels (0-255, row-major) of RGBA pixels, as image-rs's `to_luma8`:
/// (2126 R + 7152 G + 722 B) / 10000 in integers; alpha is ignored.
export function grayOf(rgba, width, height) {
  const gray = new Uint8Array(width * height);
  for (let i = 0; i < gray.length; i++) {
    gray[i] = Math.floor((2126 * rgba[4 * i] + 7152 * rgba[4 * i + 1] + 722 * rgba[4 * i + 2]) / 10000);
  }
  return gray;
}

/// The 28x28 MNIST-style digit (Uint8Array(784), 0 = background, 255 = ink)
/// of a `width` x `height` grey image, or null when it holds no ink.
export function mnistStyle(gray, width, height) {
  const ink = inkLevels(gray, width, height);
  if (!ink) return null;
  const box = inkBox(ink, width, height);
  if (!box) return null;
  const [left, top, right, bottom] = box;
  const cw = right - left + 1;
  const ch = bottom - top + 1;
  const cropped = new Uint8Array(cw * ch);
  for (let y = 0; y < ch; y++) {
    cropped.set(ink.subarray((top + y) * width + left, (top + y) * width + left + cw), y * cw);
  }
  const scale = INK_BOX / Math.max(cw, ch);
  const nw = clamp(roundHalfAway(cw * scale), 1, INK_BOX);
  const nh = clamp(roundHalfAway(ch * scale), 1, INK_BOX);
  const scaled = resizeTriangle(cropped, cw, ch, nw, nh);
  const com = centreOfMass(scaled, nw, nh);
  if (!com) return null;
  const place = (c, size) => clamp(roundHalfAway(SIDE / 2 - c), 0, SIDE - size);
  const dx = place(com[0], nw);
  const dy = place(com[1], nh);
  const out = new Uint8Array(PIXELS);
  for (let y = 0; y < nh; y++) {
    for (let x = 0; x < nw; x++) out[(y + dy) * SIDE + x + dx] = scaled[y * nw + x];
  }
  return out;
}

// Ink per pixel: inverted when the paper (the border's median) is light,
// then stretched so the paper is 0 and the strongest ink 255.
function inkLevels(gray, width, height) {
  const border = [];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (x === 0 || y === 0 || x + 1 === width || y + 1 === height) border.push(gray[y * width + x]);
    }
  }
  border.sort((a, b) => a - b);
  const paper = border[border.length >> 1];
  const light = paper >= 128;
  const inkOf = (v) => (light ? 255 - v : v);
  const paperInk = inkOf(paper);
  let strongest = 0;
  for (const v of gray) strongest = Math.max(strongest, inkOf(v));
  if (strongest - paperInk < MIN_INK) return null;
  const span = strongest - paperInk;
  const ink = new Uint8Array(gray.length);
  for (let i = 0; i < gray.length; i++) {
    const above = Math.max(inkOf(gray[i]) - paperInk, 0);
    ink[i] = Math.min(Math.round(f32(f32(above * 255) / span)), 255);
  }
  return ink;
}

// [left, top, right, bottom] (inclusive) of the pixels with at least
// BOX_THRESHOLD ink, or null.
function inkBox(ink, width, height) {
  let box = null;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] < BOX_THRESHOLD) continue;
      box = box ? [Math.min(box[0], x), Math.min(box[1], y), Math.max(box[2], x), Math.max(box[3], y)] : [x, y, x, y];
    }
  }
  return box;
}

// Ink-weighted mean pixel index [x, y], or null for no ink.
function centreOfMass(ink, width, height) {
  let total = 0;
  let sx = 0;
  let sy = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const w = ink[y * width + x];
      total += w;
      sx += w * x;
      sy += w * y;
    }
  }
  return total > 0 ? [sx / total, sy / total] : null;
}

// image-rs's `resize` with `FilterType::Triangle`: columns first into f32,
// then rows, rounded and clamped to 0..255.
function resizeTriangle(src, width, height, nw, nh) {
  if (nw === width && nh === height) return src.slice();
  const tmp = new Float32Array(width * nh);
  sample(height, nh, (out, taps) => {
    for (let x = 0; x < width; x++) {
      let t = 0;
      for (const [i, w] of taps) t = f32(t + f32(src[i * width + x] * w));
      tmp[out * width + x] = t;
    }
  });
  const dst = new Uint8Array(nw * nh);
  sample(width, nw, (out, taps) => {
    for (let y = 0; y < nh; y++) {
      let t = 0;
      for (const [i, w] of taps) t = f32(t + f32(tmp[y * width + i] * w));
      dst[y * nw + out] = Math.round(clamp(t, 0, 255));
    }
  });
  return dst;
}

// For each of `count` output pixels along an axis of `size` input pixels,
// calls `each(out, taps)` with the input pixels and normalised weights of
// the triangle kernel (support 1, stretched when shrinking).
function sample(size, count, each) {
  const ratio = f32(size / count);
  const sratio = ratio < 1 ? 1 : ratio;
  const support = sratio;
  for (let out = 0; out < count; out++) {
    const centre = f32(f32(out + 0.5) * ratio);
    const left = clamp(Math.floor(f32(centre - support)), 0, size - 1);
    const right = clamp(Math.ceil(f32(centre + support)), left + 1, size);
    const origin = f32(centre - 0.5);
    const taps = [];
    let sum = 0;
    for (let i = left; i < right; i++) {
      const x = Math.abs(f32(f32(i - origin) / sratio));
      const w = x < 1 ? f32(1 - x) : 0;
      taps.push([i, w]);
      sum = f32(sum + w);
    }
    for (const tap of taps) tap[1] = f32(tap[1] / sum);
    each(out, taps);
  }
}

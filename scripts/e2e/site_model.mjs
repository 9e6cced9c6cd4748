#!/usr/bin/env node
// Runs the page's own code in headless Chromium on many inputs at once, and
// prints one JSON line; exits 1 on any failure, failed request, request to
// another origin or console error.
//
//   node scripts/e2e/site_model.mjs http://127.0.0.1:PORT/ drawings DIR
//     Each PNG of DIR (in name order) decoded by the browser, turned into the
//     28x28 digit by the page's preprocess.js and answered by its runtime.js
//     (model.onnx in onnxruntime-web), as the page does with its drawing pad:
//     [{"name", "pixels": [784] or null (blank), "probabilities": [10]}].
//   node scripts/e2e/site_model.mjs http://127.0.0.1:PORT/ pixels FILE.json
//     FILE.json holds [[784 pixels], ...]: each image straight into runtime.js:
//     [[10 probabilities], ...].
//
// The page at the URL must be able to run the model in the browser (a static
// site from `infer export --format web`). Needs scripts/e2e/install.sh.
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";

const [url, kind, input] = process.argv.slice(2);
if (!url || !["drawings", "pixels"].includes(kind) || !input) {
  console.error("usage: node site_model.mjs URL drawings DIR | node site_model.mjs URL pixels FILE.json");
  process.exit(2);
}
const cacheRoot = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
const cache = join(cacheRoot, "simple-nn", "e2e", "package.json");
const { chromium } = createRequire(cache)("playwright-core");

const inputs =
  kind === "pixels"
    ? JSON.parse(readFileSync(input, "utf8"))
    : readdirSync(input)
        .filter((name) => name.endsWith(".png"))
        .sort()
        .map((name) => ({ name, png: readFileSync(join(input, name)).toString("base64") }));

const problems = [];
const timer = setTimeout(() => {
  console.error("site_model.mjs: took longer than 60 s");
  process.exit(1);
}, 60_000);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage();
  const origin = new URL(url).origin;
  page.on("request", (r) => {
    if (!r.url().startsWith("data:") && new URL(r.url()).origin !== origin) problems.push(`external request ${r.url()}`);
  });
  page.on("requestfailed", (r) => problems.push(`failed request ${r.url()}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
  await page.goto(url, { waitUntil: "load" });
  const answers = await page.evaluate(async ([kind, inputs]) => {
    const { grayOf, mnistStyle } = await import(new URL("preprocess.js", document.baseURI).href);
    const { loadBrowserModel } = await import(new URL("runtime.js", document.baseURI).href);
    const probabilities = await loadBrowserModel();
    if (kind === "pixels") return probabilities(inputs);
    const drawings = inputs;
    const answers = [];
    for (const { name, png } of drawings) {
      const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
      const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }), {
        colorSpaceConversion: "none",
        premultiplyAlpha: "none",
      });
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const context = canvas.getContext("2d", { willReadFrequently: true });
      context.drawImage(bitmap, 0, 0);
      const { data, width, height } = context.getImageData(0, 0, bitmap.width, bitmap.height);
      const digit = mnistStyle(grayOf(data, width, height), width, height);
      answers.push({
        name,
        pixels: digit && Array.from(digit),
        probabilities: digit && (await probabilities([digit]))[0],
      });
    }
    return answers;
  }, [kind, inputs]);
  console.log(JSON.stringify(answers));
} catch (e) {
  problems.push(`site_model.mjs: ${e.message.split("\n")[0]}`);
} finally {
  clearTimeout(timer);
  await browser.close().catch(() => {});
}
for (const problem of problems) console.error(problem);
process.exit(problems.length ? 1 : 0);

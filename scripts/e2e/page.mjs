#!/usr/bin/env node
// Drives the drawing page (of `infer serve`, or the static site `infer export
// --format web` writes) in headless Chromium: waits for the model line and the
// test digits, draws a 7 on #pad, waits for the answer, checks the bars, the
// digit and the image the model saw, takes a full-page screenshot, then
// clears. Prints one JSON line on stdout; exits 0 only when every check passed
// and the page made no failed request, no 4xx/5xx, no request to another
// origin, and no console or page error.
//
//   node scripts/e2e/page.mjs http://127.0.0.1:PORT/ SCREENSHOT.png
//
// E2E_DRAWING=FILE.png writes the drawing (the pad's 280x280 pixels) there.
// E2E_TOGGLE=1 (for `infer serve`) then switches the page to "in your
// browser" and waits for that answer to the same drawing too:
// "browser_probabilities" in the JSON line.
//
// Needs scripts/e2e/install.sh (playwright-core in
// ${XDG_CACHE_HOME:-~/.cache}/simple-nn/e2e, or on NODE_PATH). Chromium:
// $CHROMIUM or /usr/bin/chromium. E2E_VIEWPORT=WxH (default 1024x800) picks
// the window size.
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: node page.mjs URL SCREENSHOT.png");
  process.exit(2);
}

function loadPlaywright() {
  const root = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  const cache = join(root, "simple-nn", "e2e", "package.json");
  for (const base of [cache, import.meta.url]) {
    try {
      return createRequire(base)("playwright-core");
    } catch {
      /* try the next place */
    }
  }
  console.error("page.mjs: playwright-core is not installed; run scripts/e2e/install.sh");
  process.exit(1);
}
const { chromium } = loadPlaywright();

const problems = []; // failed checks
const failed = []; // failed requests, 4xx/5xx answers, requests to other origins
const consoleErrors = []; // console errors and uncaught page errors
const result = { mode: null, digit: null, probabilities: [], samples: 0, failed, console_errors: consoleErrors };

function finish(code) {
  console.log(JSON.stringify(result));
  for (const line of [...problems, ...failed.map((f) => `request: ${f}`), ...consoleErrors.map((c) => `console: ${c}`)]) {
    console.error(line);
  }
  process.exit(code);
}

const overall = setTimeout(() => {
  problems.push("the whole check took longer than 60 s");
  finish(1);
}, 60_000);

const check = (ok, message) => {
  if (!ok) problems.push(message);
  return ok;
};

let browser;
try {
  const origin = new URL(url).origin;
  const [width, height] = (process.env.E2E_VIEWPORT || "1024x800").split("x").map(Number);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
    timeout: 30_000,
  });
  const page = await browser.newPage({ viewport: { width, height } });
  page.setDefaultTimeout(10_000);
  page.on("request", (r) => {
    if (!r.url().startsWith("data:") && new URL(r.url()).origin !== origin) failed.push(`external ${r.method()} ${r.url()}`);
  });
  page.on("requestfailed", (r) => failed.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on("response", (r) => {
    if (r.status() >= 400) failed.push(`${r.request().method()} ${r.url()}: HTTP ${r.status()}`);
  });
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(`uncaught: ${e.message}`));

  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("#model[data-state]", { timeout: 20_000 });
  await page.waitForSelector("#samples[data-state]");
  check((await page.getAttribute("#model", "data-state")) === "ok", `#model: ${await page.textContent("#model")}`);
  const modelLine = (await page.textContent("#model")).trim();
  check(modelLine.includes("parameters"), `#model does not name the parameters: "${modelLine}"`);
  result.samples = await page.locator("#samples .sample canvas").count();
  check(result.samples === 8, `#samples shows ${result.samples} digits, not 8: ${(await page.textContent("#samples")).trim()}`);
  check((await page.textContent("#digit")).trim() === "", "#digit is not empty before drawing");

  // A 7: the top bar, then the diagonal down to the bottom left.
  const box = await page.locator("#pad").boundingBox();
  const to = (fx, fy) => [box.x + fx * box.width, box.y + fy * box.height];
  await page.mouse.move(...to(0.28, 0.22));
  await page.mouse.down();
  await page.mouse.move(...to(0.72, 0.22), { steps: 8 });
  await page.mouse.move(...to(0.6, 0.5), { steps: 6 });
  await page.mouse.move(...to(0.46, 0.82), { steps: 6 });
  await page.mouse.up();

  // The answer to the last stroke: a digit, 10 bars summing to 1, nothing in flight.
  const answered = () =>
    page
      .waitForFunction(
        () => {
          const ps = [...document.querySelectorAll("#bars .bar")].map((b) => Number(b.dataset.p));
          const sum = ps.reduce((a, b) => a + b, 0);
          return (
            !document.body.dataset.predicting &&
            /^\d/.test(document.getElementById("digit").textContent) &&
            ps.length === 10 &&
            Math.abs(sum - 1) <= 1e-3
          );
        },
        null,
        { timeout: 20_000 },
      )
      .then(() => true)
      .catch(() => false);
  if (check(await answered(), `no answer within 20 s; #status: "${(await page.textContent("#status")).trim()}"`)) {
    const state = await page.evaluate(() => {
      const bars = [...document.querySelectorAll("#bars .bar")];
      const seen = document.getElementById("seen");
      const px = seen.getContext("2d").getImageData(0, 0, seen.width, seen.height).data;
      let lit = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i] > 0) lit++;
      return {
        mode: document.body.dataset.mode,
        digits: bars.map((b) => b.dataset.digit),
        probabilities: bars.map((b) => Number(b.dataset.p)),
        top: bars.filter((b) => b.classList.contains("top")).map((b) => Number(b.dataset.digit)),
        digit: document.getElementById("digit").textContent,
        lit,
        seenSize: [seen.width, seen.height],
      };
    });
    result.mode = state.mode;
    result.digit = Number(state.digit.match(/^\d/)[0]);
    result.probabilities = state.probabilities;
    const argmax = state.probabilities.indexOf(Math.max(...state.probabilities));
    check(state.digits.join("") === "0123456789", `bars' data-digit: ${state.digits}`);
    check(result.digit === argmax, `#digit says ${result.digit} but the largest bar is ${argmax}`);
    check(state.top.length === 1 && state.top[0] === argmax, `highlighted bars ${state.top}, argmax ${argmax}`);
    check(state.seenSize.join("x") === "28x28", `#seen is ${state.seenSize.join("x")}, not 28x28`);
    check(state.lit > 0, "#seen is all black after an answer");
  }
  if (process.env.E2E_DRAWING) {
    const png = await page.evaluate(() => document.getElementById("pad").toDataURL("image/png"));
    writeFileSync(process.env.E2E_DRAWING, Buffer.from(png.split(",")[1], "base64"));
  }
  if (process.env.E2E_TOGGLE === "1") {
    check(await page.isVisible("#modes"), "no choice of where the model runs (#modes is hidden)");
    await page.check("input[name=mode][value=browser]");
    await page.waitForFunction(() => document.body.dataset.mode === "browser");
    await page.waitForSelector("#model[data-state]", { timeout: 20_000 });
    check((await page.getAttribute("#model", "data-state")) === "ok", `#model in the browser: ${await page.textContent("#model")}`);
    if (check(await answered(), "no answer in the browser within 20 s")) {
      result.browser_probabilities = await page.evaluate(() =>
        [...document.querySelectorAll("#bars .bar")].map((b) => Number(b.dataset.p)),
      );
    }
    await page.waitForSelector("#samples[data-state]");
    check((await page.locator("#samples .sample canvas").count()) === 8, "#samples after the switch");
  }
  await page.screenshot({ path: screenshot, fullPage: true, animations: "disabled" });

  await page.click("#clear");
  const cleared = await page.evaluate(() => {
    const dark = (c) => {
      const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < px.length; i += 4) if (px[i] > 0) return false;
      return true;
    };
    return {
      digit: document.getElementById("digit").textContent.trim(),
      withP: document.querySelectorAll("#bars .bar[data-p]").length,
      padDark: dark(document.getElementById("pad")),
      seenDark: dark(document.getElementById("seen")),
    };
  });
  check(cleared.digit === "", `#digit after clear: "${cleared.digit}"`);
  check(cleared.withP === 0, `${cleared.withP} bars keep data-p after clear`);
  check(cleared.padDark, "#pad is not black after clear");
  check(cleared.seenDark, "#seen is not black after clear");
  // Let a late answer or error surface before judging.
  await page.waitForTimeout(300);
} catch (e) {
  problems.push(`page.mjs: ${e.message.split("\n")[0]}`);
} finally {
  clearTimeout(overall);
  await browser?.close().catch(() => {});
}
finish(problems.length || failed.length || consoleErrors.length ? 1 : 0);

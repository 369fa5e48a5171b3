// The project view in real headless Chromium, against a running filing gateway:
//
//   node web/test/project.mjs BASE_URL TOKEN PROJECT_ID OTHER_PROJECT_ID GENESIS_HASH
//
// Expects the project that gateway/tests/project_view.rs seeds: milestones foundation
// (400,000 fen, paid in full by two transfers), structure (500,000, paid 460,000) and completion
// (100,000, unpaid, its inspection failed), and one drawing with no milestone. Checks:
// - without a token the page asks for one, and with it shows the project;
// - the contract's figures and each milestone's paid and cap, as proved;
// - each milestone's inspection reports and payments, every receipt verified in the browser,
//   and the payments' receipts adding up to the proved paid amount;
// - the bars, in a screenshot: each bar's filled share of its track, measured in pixels;
// - what a gateway could do to mislead is shown as failing: a receipt altered on the way,
//   another project's payment slipped in (OTHER_PROJECT_ID has a milestone of the same name),
//   an entry listed twice, a genesis file other than the one pinned in the address;
// - the page's requests go to the gateway only.
import { launchChromium } from "./chromium.mjs";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const [base, token, project, otherProject, genesisHash] = process.argv.slice(2);
if (!base || !token || !project || !otherProject || !genesisHash) {
  console.error("usage: project.mjs BASE_URL TOKEN PROJECT_ID OTHER_PROJECT_ID GENESIS_HASH");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, "../test-output");
mkdirSync(out, { recursive: true });

let passed = 0;
let failed = 0;
function report(ok, name, detail = "") {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "ok" : "FAIL"} ${name}${detail ? `: ${detail}` : ""}`);
}

const browser = await launchChromium();
const context = await browser.newContext({ locale: "zh-CN", viewport: { width: 1100, height: 900 } });
const page = await context.newPage();
const origin = new URL(base).origin;
const foreign = [];
page.on("request", (request) => {
  const url = request.url();
  if (!(url.startsWith(origin) || url.startsWith("data:") || url.startsWith("blob:"))) foreign.push(url);
});
const errors = [];
page.on("pageerror", (error) => errors.push(String(error)));

const url = `${base}/projects/${encodeURIComponent(project)}`;
await page.goto(url);

// 1. No token yet: the page asks for one.
await page.waitForFunction(() => document.querySelector("#project")?.dataset.state !== "loading");
const asked = await page.evaluate(() => !document.querySelector("#token-form").hidden);
report(asked, "without a token the page asks for one");
await page.fill("#token", token);
await page.click("#token-form button[type=submit]");
await page.waitForFunction(() => ["ready", "error"].includes(document.querySelector("#project")?.dataset.state), null, {
  timeout: 60_000,
});
const state = await page.evaluate(() => ({
  state: document.querySelector("#project").dataset.state,
  text: document.querySelector("#project").innerText,
}));
report(state.state === "ready", "with the token the project is shown", state.state === "ready" ? "" : state.text);

// 2. The figures and the milestones, as proved.
const seen = await page.evaluate(() => {
  const figure = (key) => document.querySelector(`[data-figure="${key}"] .value`)?.textContent ?? "";
  const milestones = [...document.querySelectorAll("article.milestone[data-milestone]")].map((article) => ({
    id: article.dataset.milestone,
    paid: article.dataset.paid ?? null,
    cap: article.dataset.cap ?? null,
    fill: article.querySelector(".bar-fill")?.style.width ?? null,
    items: [...article.querySelectorAll(".items li[data-verified]")].map((li) => ({
      verified: li.dataset.verified,
      kind: li.dataset.kind ?? null,
      document: li.dataset.document ?? null,
      receiptLink: li.querySelector("a[download]")?.getAttribute("download") ?? null,
    })),
    sumOk: article.querySelector(".sum-check")?.dataset.sumOk ?? null,
  }));
  return {
    total: figure("total"),
    paid: figure("paid"),
    remaining: figure("remaining"),
    proved: document.querySelector(".proved")?.textContent ?? "",
    milestones,
  };
});
report(seen.total.startsWith("10,000.00"), "the contract value", seen.total);
report(seen.paid.startsWith("8,600.00"), "the paid total", seen.paid);
report(seen.remaining.startsWith("1,400.00"), "the remaining amount", seen.remaining);
report(seen.proved.includes("✓"), "the figures are proved under a certified checkpoint", seen.proved);

const expected = {
  foundation: { paid: "400000", cap: "400000", fill: "100%", kinds: ["inspection", "payment", "payment"] },
  structure: { paid: "460000", cap: "500000", fill: "92%", kinds: ["inspection", "payment"] },
  completion: { paid: "0", cap: "100000", fill: "0%", kinds: ["inspection"] },
  "": { paid: null, cap: null, fill: null, kinds: ["document"] },
};
report(
  seen.milestones.map((m) => m.id).join(",") === "foundation,structure,completion,",
  "three milestones, then the documents with no milestone",
  seen.milestones.map((m) => m.id || "(other)").join(", "),
);
for (const milestone of seen.milestones) {
  const want = expected[milestone.id];
  if (!want) continue;
  const kinds = milestone.items.map((item) => item.kind).sort();
  const ok =
    milestone.paid === want.paid &&
    milestone.cap === want.cap &&
    milestone.fill === want.fill &&
    JSON.stringify(kinds) === JSON.stringify([...want.kinds].sort()) &&
    milestone.items.every((item) => item.verified === "true" && item.receiptLink?.endsWith(".receipt.json")) &&
    (milestone.id === "" || milestone.sumOk === "true");
  report(ok, `milestone ${milestone.id || "(none)"}: paid, cap, bar, items verified with their receipts`, JSON.stringify(milestone));
}

// 3. The bars in a screenshot: measure each bar's filled share in pixels.
const shot = await page.screenshot({ fullPage: true });
writeFileSync(join(out, "project-view.png"), shot);
const bars = [];
for (const id of ["foundation", "structure", "completion"]) {
  const track = page.locator(`article.milestone[data-milestone="${id}"] .bar-track`);
  bars.push({ id, png: (await track.screenshot()).toString("base64") });
}
const measure = await browser.newPage();
await measure.setContent("<html><body></body></html>");
const shares = await measure.evaluate(async (bars) => {
  const result = {};
  for (const { id, png } of bars) {
    const image = new Image();
    image.src = `data:image/png;base64,${png}`;
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = image.width;
    canvas.height = image.height;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    // The middle row: a pixel is "filled" when it is clearly coloured (the track is light grey).
    const row = context.getImageData(0, Math.floor(image.height / 2), image.width, 1).data;
    let filled = 0;
    for (let x = 0; x < image.width; x++) {
      const [r, g, b] = [row[4 * x], row[4 * x + 1], row[4 * x + 2]];
      if (Math.max(r, g, b) - Math.min(r, g, b) > 60) filled++;
    }
    result[id] = filled / image.width;
  }
  return result;
}, bars);
await measure.close();
report(
  Math.abs(shares.foundation - 1) < 0.03 && Math.abs(shares.structure - 0.92) < 0.03 && shares.completion < 0.02,
  "the screenshot shows each bar filled to its paid share (100 %, 92 %, 0 %)",
  JSON.stringify(shares),
);

// 4. A receipt altered on its way from the gateway: the page says so.
await page.route("**/v1/lookup**", async (route) => {
  const response = await route.fetch();
  const body = await response.json();
  for (const result of body.results) {
    if (result.document?.document_id === "PAY-STRUCTURE-1") {
      // The payment's entry, one hex digit near its end changed: the amount or the signature.
      const entry = result.receipt.entry;
      const at = entry.length - 70;
      result.receipt.entry = entry.slice(0, at) + (entry[at] === "0" ? "1" : "0") + entry.slice(at + 1);
    }
  }
  await route.fulfill({ response, json: body });
});
await page.reload();
await page.waitForFunction(() => ["ready", "error"].includes(document.querySelector("#project")?.dataset.state), null, {
  timeout: 60_000,
});
const altered = await page.evaluate(() =>
  [...document.querySelectorAll('.items li[data-verified="false"]')].map((li) => li.dataset.code),
);
const structureSum = await page.evaluate(
  () => document.querySelector('article.milestone[data-milestone="structure"] .sum-check')?.dataset.sumOk,
);
report(
  altered.length === 1 && altered[0] === "header-root-mismatch" && structureSum === "false",
  "an altered receipt is shown failing its check (header-root-mismatch), and the structure's payments no longer add up",
  `${JSON.stringify(altered)}, structure sum ok: ${structureSum}`,
);
await page.unroute("**/v1/lookup**");

// 4b. Another project's payment against a milestone of the same name, and one of this
//     project's payments listed twice: both flagged, neither counted, the sums still proved.
const other = await (
  await page.request.get(`${base}/v1/lookup?project_id=${encodeURIComponent(otherProject)}`, {
    headers: { authorization: `Bearer ${token}` },
  })
).json();
const foreignPayment = other.results.find((r) => r.document?.document_id === "PAY-P2-FOUNDATION-1");
await page.route("**/v1/lookup**", async (route) => {
  const response = await route.fetch();
  const body = await response.json();
  const twice = body.results.find((r) => r.document?.document_id === "PAY-FOUNDATION-1");
  body.results.push(foreignPayment, twice);
  await route.fulfill({ response, json: body });
});
await page.reload();
await page.waitForFunction(() => ["ready", "error"].includes(document.querySelector("#project")?.dataset.state), null, {
  timeout: 60_000,
});
const padded = await page.evaluate(() => ({
  flagged: [...document.querySelectorAll('.items li[data-verified="false"]')].map((li) => li.dataset.code).sort(),
  foundationPayments: document.querySelectorAll('article.milestone[data-milestone="foundation"] li[data-kind="payment"]').length,
  sums: [...document.querySelectorAll(".sum-check")].map((p) => p.dataset.sumOk),
}));
report(
  foreignPayment !== undefined &&
    JSON.stringify(padded.flagged) === JSON.stringify(["listed-twice", "other-project"]) &&
    padded.foundationPayments === 2 &&
    padded.sums.every((ok) => ok === "true"),
  "another project's payment and a payment listed twice are flagged, not counted",
  JSON.stringify(padded),
);
await page.unroute("**/v1/lookup**");

// 4c. The genesis hash pinned in the address: the right one is accepted and said to be pinned,
//     another one refuses the gateway's genesis file.
// (A change of the fragment alone does not load the page again: reload after each.)
await page.goto(`${url}#genesis=${genesisHash}`);
await page.reload();
await page.waitForFunction(() => ["ready", "error"].includes(document.querySelector("#project")?.dataset.state), null, {
  timeout: 60_000,
});
const pinnedText = await page.evaluate(() => document.querySelector(".proved")?.textContent ?? "");
const wrongPin = `${genesisHash.split(":")[0]}:${"0".repeat(64)}`;
await page.goto(`${url}#genesis=${wrongPin}`);
await page.reload();
await page.waitForFunction(() => ["ready", "error"].includes(document.querySelector("#project")?.dataset.state), null, {
  timeout: 60_000,
});
const refused = await page.evaluate(() => ({
  state: document.querySelector("#project").dataset.state,
  text: document.querySelector("#project").innerText,
}));
report(
  pinnedText.includes("地址中固定") && refused.state === "error" && refused.text.includes("wrong-chain"),
  "a pinned genesis hash: the right one accepted, another one refused",
  `${pinnedText.slice(-60)} / ${refused.state}: ${refused.text.slice(0, 160)}`,
);
await page.goto(url);

// 5. In English.
await page.reload();
await page.waitForFunction(() => document.querySelector("#project")?.dataset.state === "ready", null, { timeout: 60_000 });
await page.click("#lang-en");
const english = await page.evaluate(() => document.querySelector("#project").innerText);
report(english.includes("Milestone structure") && english.includes("paid 4,600.00 of 5,000.00 yuan"), "the view in English");

report(foreign.length === 0, "the page's requests go to its gateway only", foreign.slice(0, 5).join(", "));
report(errors.length === 0, "no script error in the page", errors.slice(0, 5).join(" | "));
await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

// The web verifier as a clerk uses it, in real headless Chromium: every golden vector through
// the page's file inputs gives the manifest's verdict; a tampered document and an edited receipt
// are refused; a large document is hashed in a worker with progress shown; the evidence
// certificate prints to PDF and its QR code, scanned back by the page from the printed page,
// gives the receipt again and a valid verdict; and the page makes no network request.
//
//   node web/test/browser.mjs [--page PATH] [--only SUBSTRING]
//
// Needs Debian's chromium (CHROMIUM overrides /usr/bin/chromium) and pdftoppm (poppler-utils);
// scripts/test-web.sh installs both when missing.
import { launchChromium } from "./chromium.mjs";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const vectors = join(root, "core/tests/vectors");
const args = process.argv.slice(2);
const argValue = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const pagePath = resolve(argValue("--page", join(root, "web/dist/evidence-verifier.html")));
const only = argValue("--only", null);
const out = join(root, "web/test-output");

mkdirSync(out, { recursive: true });

const manifest = JSON.parse(readFileSync(join(vectors, "manifest.json"), "utf8"));

let passed = 0;
let failed = 0;
function report(ok, name, detail) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "ok" : "FAIL"} ${name}${detail ? `: ${detail}` : ""}`);
}

const browser = await launchChromium();
const context = await browser.newContext({ locale: "zh-CN", acceptDownloads: false });
const page = await context.newPage();

// Every request the page makes. The page itself is a file: URL; the worker and the QR image are
// blob: and data: URLs. Anything else would be a network request.
const foreign = [];
page.on("request", (request) => {
  const url = request.url();
  if (!(url.startsWith("file:") || url.startsWith("data:") || url.startsWith("blob:"))) foreign.push(url);
});
const consoleErrors = [];
page.on("console", (message) => {
  if (message.type() === "error") consoleErrors.push(message.text());
});
page.on("pageerror", (error) => consoleErrors.push(String(error)));
let workers = 0;
page.on("worker", () => workers++);

await page.goto(pathToFileURL(pagePath).href);

const settled = ["valid", "invalid", "invalid-genesis"];

async function clear() {
  await page.click("#clear");
  await page.waitForFunction(() => document.querySelector("#verdict")?.dataset.state === "waiting");
}

async function put(slot, file) {
  await page.setInputFiles(`#input-${slot}`, file);
}

/** Clears the page, puts the files in, waits for the verdict; returns the verdict's codes. */
async function verdictFor(files) {
  await clear();
  for (const [slot, file] of Object.entries(files)) if (file) await put(slot, file);
  await page.waitForFunction(
    (states) => states.includes(document.querySelector("#verdict")?.dataset.state ?? ""),
    settled,
    { timeout: 60_000 },
  );
  return page.evaluate(() => {
    const verdict = document.querySelector("#verdict");
    const first = verdict.querySelector("[data-code]");
    const status = verdict.querySelector("[data-status-code]");
    return {
      code: first?.dataset.code ?? null,
      status: first?.dataset.status ?? null,
      statusCode: status?.dataset.statusCode ?? null,
      text: verdict.innerText,
    };
  });
}

const receiptsDocument = new Map();
for (const vector of manifest.vectors) {
  if (vector.expected === "valid") receiptsDocument.set(vector.receipt, vector.document);
}

// 1. Every receipt vector, through the file inputs.
for (const vector of manifest.vectors) {
  if (only && !vector.receipt.includes(only)) continue;
  const genesis = join(vectors, vector.genesis ?? manifest.genesis);
  const result = await verdictFor({
    genesis,
    receipt: join(vectors, vector.receipt),
    document: join(vectors, vector.document),
  });
  const code = result.code === "invalid-genesis" ? "invalid-genesis" : result.code;
  const digestShown = !vector.document_digest || vector.expected !== "valid" || result.text.includes(vector.document_digest);
  report(
    code === vector.expected && digestShown,
    vector.receipt,
    code === vector.expected ? (digestShown ? "" : "the digest is not shown") : `page says ${code}, manifest ${vector.expected}`,
  );
}

// 2. Every status-proof vector: with its receipt (and that receipt's document) when it names one,
//    on its own otherwise.
for (const vector of manifest.status_proofs) {
  if (only && !vector.status_proof.includes(only)) continue;
  const genesis = join(vectors, vector.genesis ?? manifest.genesis);
  const files = { genesis, status: join(vectors, vector.status_proof) };
  if (vector.receipt) {
    files.receipt = join(vectors, vector.receipt);
    files.document = join(vectors, receiptsDocument.get(vector.receipt));
  }
  const result = await verdictFor(files);
  let code;
  if (vector.receipt) code = result.code !== "valid" ? `receipt ${result.code}` : (result.statusCode ?? "valid");
  else code = result.code;
  let ok = code === vector.expected;
  let detail = ok ? "" : `page says ${code}, manifest ${vector.expected}`;
  if (ok && vector.expected === "valid" && vector.receipt && vector.proves) {
    ok = result.status === vector.proves.kind;
    if (!ok) detail = `page proves ${result.status}, manifest ${vector.proves.kind}`;
  }
  report(ok, vector.status_proof, detail);
}

const base = manifest.vectors.find((v) => v.receipt === "valid/single-document.receipt.json");
const baseFiles = {
  genesis: join(vectors, manifest.genesis),
  receipt: join(vectors, base.receipt),
  document: join(vectors, base.document),
};

if (!only) {
  // 3. A tampered document: one byte changed.
  const original = readFileSync(baseFiles.document);
  const tampered = Buffer.from(original);
  tampered[Math.floor(tampered.length / 2)] ^= 0x01;
  const tamperedPath = join(out, "tampered-" + base.document.split("/").pop());
  writeFileSync(tamperedPath, tampered);
  let result = await verdictFor({ ...baseFiles, document: tamperedPath });
  report(result.code === "digest-mismatch", "a tampered document", `page says ${result.code}`);

  // 4. An edited receipt: one hex digit near the end of the header (its hash no longer the one
  //    the validators signed), of the entry (its leaf no longer under the log root), of the
  //    certificate (a validator's signature): each refused by the check SPEC.md §9 names.
  const receipt = JSON.parse(readFileSync(baseFiles.receipt, "utf8"));
  const editedCodes = {
    header: "certificate-for-other-block",
    entry: "header-root-mismatch",
    certificate: "bad-validator-signature",
  };
  for (const field of ["header", "entry", "certificate"]) {
    const edited = { ...receipt };
    const at = edited[field].length - 10;
    const digit = edited[field][at];
    edited[field] = edited[field].slice(0, at) + (digit === "0" ? "1" : "0") + edited[field].slice(at + 1);
    const editedPath = join(out, `edited-${field}.receipt.json`);
    writeFileSync(editedPath, JSON.stringify(edited, null, 2));
    result = await verdictFor({ ...baseFiles, receipt: editedPath });
    report(result.code === editedCodes[field], `an edited receipt (${field})`, `page says ${result.code}, expected ${editedCodes[field]}`);
  }

  // 5. A large document is hashed in a worker, with progress shown.
  const large = join(out, "large-drawing.bin");
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 2654435761) >>> 24;
  writeFileSync(large, Buffer.concat(Array.from({ length: 96 }, () => chunk)));
  process.on("exit", () => rmSync(large, { force: true }));
  await clear();
  const workersBefore = workers;
  await put("genesis", baseFiles.genesis);
  await put("receipt", baseFiles.receipt);
  await put("document", large);
  const sawProgress = await page
    .waitForFunction(() => !document.querySelector("#progress").hidden && document.querySelector("#progress-bar").value > 0, null, {
      timeout: 30_000,
      polling: 10,
    })
    .then(() => true, () => false);
  await page.waitForFunction(() => document.querySelector("#verdict")?.dataset.state === "invalid", null, { timeout: 120_000 });
  const largeCode = await page.evaluate(() => document.querySelector("#verdict [data-code]")?.dataset.code);
  report(
    workers > workersBefore && sawProgress && largeCode === "digest-mismatch",
    "a 96 MiB document is hashed in a worker with progress shown",
    `worker started: ${workers > workersBefore}, progress seen: ${sawProgress}, verdict ${largeCode}`,
  );

  // 5b. Cleared while the large document is being hashed: the page forgets that verification
  //     (no verdict, no progress left behind), and verifies the next files normally.
  await clear();
  await put("genesis", baseFiles.genesis);
  await put("receipt", baseFiles.receipt);
  await put("document", large);
  await page.waitForFunction(() => document.querySelector("#verdict")?.dataset.state === "hashing", null, { polling: 10 });
  await page.click("#clear");
  await page.waitForTimeout(1500);
  const afterClear = await page.evaluate(() => ({
    state: document.querySelector("#verdict").dataset.state,
    progress: !document.querySelector("#progress").hidden,
  }));
  result = await verdictFor(baseFiles);
  report(
    afterClear.state === "waiting" && !afterClear.progress && result.code === "valid",
    "clearing the page while a document is hashed cancels that verification",
    `${JSON.stringify(afterClear)}, then ${result.code}`,
  );

  // 6. The evidence certificate: printed to PDF; the QR code scanned back from the printed page.
  for (const [name, files, form] of [
    ["single-document", baseFiles, "receipt"],
    [
      "registered-filer.revoked-later",
      {
        genesis: join(vectors, manifest.genesis),
        receipt: join(vectors, "valid/registered-filer.revoked-later.receipt.json"),
        document: join(vectors, receiptsDocument.get("valid/registered-filer.revoked-later.receipt.json")),
      },
      "reference",
    ],
  ]) {
    result = await verdictFor(files);
    await page.click("#show-certificate");
    await page.waitForSelector("#certificate .cert #certificate-qr svg");
    const kind = await page.evaluate(() => document.querySelector("#certificate .cert").dataset.qr);
    // A receipt of one hand-off-free checkpoint fits one code; one with three hand-offs, a
    // registration and a revocation (3.7 kB compressed) does not.
    report(kind === form, `the certificate of ${name} carries the ${form} form (SPEC.md §8.4)`, `it carries the ${kind} form`);
    const pdfPath = join(out, `certificate-${name}.pdf`);
    await page.pdf({ path: pdfPath, format: "A4", printBackground: true });
    const pdf = readFileSync(pdfPath);
    const pages = (pdf.toString("latin1").match(/\/Type\s*\/Page[^s]/g) ?? []).length;
    const isPdf = pdf.subarray(0, 5).toString() === "%PDF-";
    report(isPdf && pages === 1, `the certificate of ${name} prints to a one-page PDF`, `${pdf.length} bytes, ${pages} page(s)`);
    // The printed page as an image, as a scanner would give it.
    const prefix = join(out, `certificate-${name}`);
    execFileSync("pdftoppm", ["-r", "200", "-png", "-singlefile", pdfPath, prefix]);
    const png = `${prefix}.png`;
    await clear();
    await put("genesis", files.genesis);
    await put("document", files.document);
    await page.setInputFiles("#input-qr", png);
    if (kind === "receipt") {
      await page.waitForFunction(() => document.querySelector("#verdict")?.dataset.state === "valid", null, { timeout: 60_000 });
      const receiptName = await page.evaluate(() => document.querySelector("#drop-receipt [data-name]").textContent);
      const scanned = await page.evaluate(() => document.querySelector("#verdict").innerText);
      // The verdict is the printed receipt's: it shows the digest the manifest states for it.
      const digest = manifest.vectors.find((v) => join(vectors, v.receipt) === files.receipt)?.document_digest;
      report(
        receiptName.includes("QR") && digest !== undefined && scanned.includes(digest),
        `the certificate of ${name}: its QR code scans back to the receipt and a valid verdict`,
        digest ?? "",
      );
    } else {
      await page.waitForSelector("#notice");
      const text = await page.evaluate(() => document.querySelector("#notice").textContent);
      // The reference names the anchored document's digest (the manifest states it for another
      // receipt of the same document) and the document id.
      const digest = manifest.vectors.find((v) => join(vectors, v.document) === files.document && v.document_digest)?.document_digest;
      report(digest !== undefined && text.includes(digest) && text.includes("DWG-SITE-01"), `the certificate of ${name}: its QR code scans back to the receipt's reference (too large for a code)`, text);
    }
  }

  // 6b. An image with no QR code in it (the page's own screenshot): said so, nothing verified.
  await clear();
  const plain = join(out, "no-code.png");
  writeFileSync(plain, await page.screenshot());
  await page.setInputFiles("#input-qr", plain);
  await page.waitForSelector("#notice", { timeout: 30_000 });
  const noCode = await page.evaluate(() => ({
    notice: document.querySelector("#notice").textContent,
    state: document.querySelector("#verdict").dataset.state,
  }));
  report(noCode.notice.includes("没有找到二维码") && noCode.state === "waiting", "an image without a QR code", JSON.stringify(noCode));

  // 7. The page in English, and a screenshot of a valid verdict for the README.
  result = await verdictFor(baseFiles);
  await page.click("#lang-en");
  const english = await page.evaluate(() => document.querySelector("#verdict").innerText);
  report(english.includes("VALID: this file is the document the receipt anchors on the ledger."), "the verdict in English", "");
  await page.click("#lang-zh");
  await page.setViewportSize({ width: 1100, height: 1000 });
  await page.screenshot({ path: join(out, "verifier.png"), fullPage: true });
}

report(foreign.length === 0, "the page made no network request", foreign.slice(0, 5).join(", "));
report(consoleErrors.length === 0, "no script error in the page", consoleErrors.slice(0, 5).join(" | "));

await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

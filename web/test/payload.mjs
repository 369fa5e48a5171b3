// The certificate code's reader (SPEC.md §8.4, web/src/page/qr.ts) on good and bad data, in Node:
// what a scanned QR code can hold is outside data, and each way it can be wrong has its answer.
//
//   node web/test/payload.mjs
import { build } from "esbuild";
import { writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { deflateRawSync } from "node:zlib";
import { randomBytes } from "node:crypto";

const here = dirname(fileURLToPath(import.meta.url));
const bundled = await build({
  entryPoints: [join(here, "../src/page/qr.ts")],
  bundle: true,
  format: "esm",
  platform: "node",
  write: false,
  logLevel: "warning",
});
const file = join(tmpdir(), `evidence-qr-${process.pid}.mjs`);
writeFileSync(file, bundled.outputFiles[0].text);
const qr = await import(pathToFileURL(file).href);
rmSync(file);

let passed = 0;
let failed = 0;
function check(name, ok, detail = "") {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "ok" : "FAIL"} ${name}${detail ? `: ${detail}` : ""}`);
}
const bytes = (text) => new TextEncoder().encode(text);
const withMagic = (magic, body) => new Uint8Array([...bytes(magic), ...body]);
const reference = {
  digest: "blake3:" + "ab".repeat(32),
  chain_id: "evidence-vectors",
  genesis: "blake3:" + "cd".repeat(32),
  member: "bureau",
  project_id: "luohu-2026-001",
  document_id: "DWG-SITE-01",
  version: 1,
  entry: 20,
  height: 21,
};

// The receipt form: the writer's bytes inflate to the receipt, byte for byte; so does another
// DEFLATE implementation's output (zlib's raw deflate).
const receipt = bytes(JSON.stringify({ type: "evidence-receipt", version: 1, entry: "00".repeat(300) }, null, 2));
const payload = qr.certificatePayload(receipt, reference);
check("a small receipt takes the receipt form", payload.kind === "receipt" && String.fromCharCode(...payload.bytes.subarray(0, 4)) === "EVR1");
let read = qr.readPayload(payload.bytes);
check("the receipt form reads back to the receipt's bytes", read.kind === "receipt" && Buffer.from(read.receipt).equals(Buffer.from(receipt)));
read = qr.readPayload(withMagic("EVR1", deflateRawSync(receipt)));
check("zlib's raw DEFLATE of a receipt reads back too", read.kind === "receipt" && Buffer.from(read.receipt).equals(Buffer.from(receipt)));

// A receipt too large for a code: the reference form, every field of §8.4.
const large = new Uint8Array(randomBytes(20000));
const referencePayload = qr.certificatePayload(large, reference);
check("a receipt too large for a code takes the reference form", referencePayload.kind === "reference" && referencePayload.bytes.length <= qr.QR_CAPACITY);
read = qr.readPayload(referencePayload.bytes);
check("the reference form reads back to its nine fields", read.kind === "reference" && JSON.stringify(read.reference) === JSON.stringify(reference));

// Malformed data, each its own answer; never a receipt.
const cases = [
  ["another code's data", bytes("https://example.org/"), "foreign"],
  ["empty data", new Uint8Array(), "foreign"],
  ["EVR1 and bytes that are no DEFLATE stream", withMagic("EVR1", [0xff, 0xff, 0xff, 0xff]), "unreadable"],
  ["EVR1 and a truncated stream", withMagic("EVR1", deflateRawSync(receipt).subarray(0, 20)), "unreadable"],
  ["EVD1 and no JSON", withMagic("EVD1", bytes("not json")), "unreadable"],
  ["EVD1 and invalid UTF-8", withMagic("EVD1", [0x7b, 0xff, 0x7d]), "unreadable"],
  ["EVD1 and an array", withMagic("EVD1", bytes("[]")), "unreadable"],
  ["EVD1 with a field missing", withMagic("EVD1", bytes(JSON.stringify({ ...reference, height: undefined }))), "unreadable"],
  ["EVD1 with a field twice", withMagic("EVD1", bytes(JSON.stringify(reference).replace("{", '{"entry":1,'))), "unreadable"],
  ["EVD1 with an unknown field", withMagic("EVD1", bytes(JSON.stringify({ ...reference, url: "x" }))), "unreadable"],
  ["EVD1 with a negative entry", withMagic("EVD1", bytes(JSON.stringify({ ...reference, entry: -1 }))), "unreadable"],
  ["EVD1 with a fractional version", withMagic("EVD1", bytes(JSON.stringify(reference).replace('"version":1', '"version":1.0'))), "unreadable"],
  ["EVD1 with a height above 2^53 − 1", withMagic("EVD1", bytes(JSON.stringify(reference).replace('"height":21', '"height":9007199254740993'))), "unreadable"],
  ["EVD1 with a numeric digest", withMagic("EVD1", bytes(JSON.stringify({ ...reference, digest: 7 }))), "unreadable"],
];
for (const [name, data, expected] of cases) {
  const got = qr.readPayload(data);
  const kind = typeof got === "string" ? got : got.kind;
  check(name, kind === expected, `${kind}${got.detail ? ` (${got.detail})` : ""}`);
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);

// Builds the court's pages into self-contained HTML files: every script, style and worker inlined,
// nothing fetched when a page is opened (a court opens them from a USB stick, offline).
//
//   node build.mjs                 writes dist/
//   node build.mjs --check         builds into memory and fails if dist/ differs (CI)
//   node build.mjs --out DIR       writes DIR/ instead of dist/
//
// The output is deterministic for a given lockfile, so dist/ is committed: the filing gateway
// compiles the pages in, and a Rust build needs no Node.js.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const check = args.includes("--check");
const outIndex = args.indexOf("--out");
const outDir = outIndex >= 0 ? args[outIndex + 1] : join(here, "dist");

const common = {
  bundle: true,
  minify: true,
  write: false,
  target: ["chrome100", "firefox100", "safari15"],
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
};

async function bundle(entry, format, define = {}) {
  const result = await build({
    ...common,
    entryPoints: [join(here, entry)],
    format,
    define,
  });
  return result.outputFiles[0].text;
}

/** Makes a script safe inside an HTML <script> element. */
function inlineSafe(js) {
  return js.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
}

function sha256Base64(text) {
  return createHash("sha256").update(text, "utf8").digest("base64");
}

/**
 * One page: the template's {{STYLE}}, {{SCRIPT}} and {{CSP}} replaced. The content security
 * policy allows the one inline script (by its hash), inline styles, images from data: and blob:
 * URLs, workers from blob: URLs, and no connection of any kind: the page cannot reach a network
 * even if a bug tried to.
 */
function page(template, style, script, extraConnect = "'none'") {
  const safe = inlineSafe(script);
  const csp = [
    "default-src 'none'",
    `script-src 'sha256-${sha256Base64(safe)}'`,
    "style-src 'unsafe-inline'",
    "img-src data: blob:",
    "worker-src blob:",
    `connect-src ${extraConnect}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
  return template
    .replace("{{CSP}}", csp)
    .replace("{{STYLE}}", () => style)
    .replace("{{SCRIPT}}", () => safe);
}

const style = readFileSync(join(here, "src/page/style.css"), "utf8");
const worker = await bundle("src/page/hash-worker.ts", "iife");
const verifierScript = await bundle("src/page/verifier-page.ts", "iife", {
  __HASH_WORKER_SOURCE__: JSON.stringify(worker),
});
const projectScript = await bundle("src/page/project-page.ts", "iife");
const outputs = {
  "evidence-verifier.html": page(
    readFileSync(join(here, "src/page/verifier.html"), "utf8"),
    style,
    verifierScript,
  ),
  // The project view reads its own gateway's API (same origin), and nothing else.
  "evidence-project.html": page(
    readFileSync(join(here, "src/page/project.html"), "utf8"),
    style,
    projectScript,
    "'self'",
  ),
};

let stale = [];
for (const [name, text] of Object.entries(outputs)) {
  const path = join(outDir, name);
  if (check) {
    if (!existsSync(path) || readFileSync(path, "utf8") !== text) stale.push(path);
  } else {
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path, text);
    console.log(`wrote ${path} (${text.length} bytes)`);
  }
}
if (stale.length > 0) {
  console.error(
    `out of date: ${stale.join(", ")}; run \`scripts/build-web.sh\` and commit the result`,
  );
  process.exit(1);
}
if (check) console.log(`${Object.keys(outputs).length} page(s) up to date`);

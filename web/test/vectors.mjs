// Runs the verifier of web/src/verifier/ on every golden vector of core/tests/vectors/
// (SPEC.md §14): bundles it with esbuild, self-tests its primitives, then checks each receipt
// and each status proof of manifest.json against its expected outcome.
//
//   node web/test/vectors.mjs            (from the repository root)
//   npm run test:vectors                 (from web/)
//
// Prints one line per vector (`ok …` or `FAIL …: why`) and a last line `N passed, M failed`;
// exits non-zero on any failure.
import { build } from 'esbuild';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const web = resolve(here, '..');
const repo = resolve(web, '..');
const vectorsDir = process.argv[2] ? resolve(process.argv[2]) : join(repo, 'core/tests/vectors');

// Bundle the verifier as the page's build would (self-contained, no Node APIs), then import it.
const bundled = await build({
  entryPoints: [join(web, 'src/verifier/index.ts')],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  write: false,
  logLevel: 'error',
  absWorkingDir: web,
  mainFields: ['module', 'main'],
});
const tmp = mkdtempSync(join(tmpdir(), 'evidence-verifier-'));
const bundlePath = join(tmp, 'verifier.mjs');
writeFileSync(bundlePath, bundled.outputFiles[0].contents);
const V = await import(pathToFileURL(bundlePath).href);
rmSync(tmp, { recursive: true, force: true });

let passed = 0;
let failed = 0;
const ok = (name, what) => {
  passed++;
  console.log(`ok ${name}: ${what}`);
};
const bad = (name, why) => {
  failed++;
  console.log(`FAIL ${name}: ${why}`);
};

// ---- self-tests: SM3 (GB/T 32905), SM2 (GB/T 32918 example), Ed25519 (RFC 8032 test 1), state tree
for (const r of V.selfTest()) {
  if (r.ok) ok(`self-test ${r.name}`, r.detail);
  else bad(`self-test ${r.name}`, r.detail);
}

const manifest = JSON.parse(readFileSync(join(vectorsDir, 'manifest.json'), 'utf8'));
const genesisCache = new Map();
function genesisFor(path) {
  if (!genesisCache.has(path)) genesisCache.set(path, V.readGenesis(readFileSync(join(vectorsDir, path))));
  return genesisCache.get(path);
}

function outcome(f) {
  try {
    return { code: 'valid', value: f() };
  } catch (e) {
    if (e instanceof V.VerifyError) return { code: e.code, detail: e.detail };
    return { code: `exception`, detail: e && e.stack ? e.stack : String(e) };
  }
}

/** Reads a receipt and verifies it against its document; returns the digest computed too. */
function checkReceipt(v) {
  const genesis = genesisFor(v.genesis ?? manifest.genesis);
  let digestText = null;
  let receipt = null;
  const started = performance.now();
  const r = outcome(() => {
    receipt = V.readReceipt(readFileSync(join(vectorsDir, v.receipt)));
    const algorithm = V.receiptDocumentAlgorithm(receipt);
    const hasher = V.newHasher(algorithm);
    if (hasher === null) throw new Error(`no hasher for ${algorithm}`);
    // Stream the document in chunks, as the page does.
    const doc = readFileSync(join(vectorsDir, v.document));
    for (let i = 0; i < doc.length; i += 4096) hasher.update(new Uint8Array(doc.buffer, doc.byteOffset + i, Math.min(4096, doc.length - i)));
    const bytes = hasher.digest();
    digestText = `${algorithm}:${V.toHex(bytes)}`;
    return V.verifyReceipt(genesis, receipt, { algorithm, bytes });
  });
  return { ...r, digestText, receipt, ms: performance.now() - started };
}

const receiptTimes = [];
for (const v of manifest.vectors) {
  const name = v.receipt;
  const r = checkReceipt(v);
  if (r.code === 'valid') receiptTimes.push(r.ms);
  if (r.code !== v.expected) {
    bad(name, `expected ${v.expected}, got ${r.code}${r.detail ? ` (${r.detail})` : ''}`);
    continue;
  }
  if (v.document_digest !== undefined && r.digestText !== v.document_digest) {
    bad(name, `the document digest computed is ${r.digestText}, the manifest states ${v.document_digest}`);
    continue;
  }
  ok(name, r.code === 'valid' ? r.value.text : `${r.code}: ${r.detail}`);
}

/** Compares what a valid status verdict shows with the manifest's `proves`; returns a reason or null. */
function provesProblem(proves, verdict) {
  const eq = (a, b) => a === b || (typeof a === 'bigint' || typeof b === 'bigint' ? BigInt(a) === BigInt(b) : false);
  switch (proves.kind) {
    case 'current': {
      const v = verdict.version;
      if (v === null) return 'no version status';
      if (v.status !== 'current') return `status ${v.status}, not current`;
      if (verdict.height !== proves.height) return `height ${verdict.height}, not ${proves.height}`;
      return null;
    }
    case 'superseded': {
      const v = verdict.version;
      if (v === null) return 'no version status';
      if (v.status !== 'superseded') return `status ${v.status}, not superseded`;
      const s = v.supersededBy;
      if (s === null) return 'no superseding version';
      if (s.version !== proves.by_version || s.digest !== proves.by_digest || s.height !== proves.height) {
        return `superseded by ${s.version} (${s.digest}) at ${s.height}, not ${proves.by_version} (${proves.by_digest}) at ${proves.height}`;
      }
      return null;
    }
    case 'revoked': {
      const v = verdict.version;
      if (v === null) return 'no version status';
      if (v.status !== 'revoked') return `status ${v.status}, not revoked`;
      if (v.revocation === null) return 'no revocation';
      if (v.revocation.reason !== proves.reason || v.revocation.height !== proves.height) {
        return `revoked at ${v.revocation.height} ("${v.revocation.reason}"), not at ${proves.height} ("${proves.reason}")`;
      }
      const sup = v.supersededBy === null ? undefined : v.supersededBy.version;
      if (sup !== proves.superseded_by_version) return `superseded by version ${sup}, not ${proves.superseded_by_version}`;
      return null;
    }
    case 'never-filed': {
      if (verdict.height !== proves.height) return `height ${verdict.height}, not ${proves.height}`;
      const f = verdict.facts.find(
        (x) => x.kind === 'never-filed' && x.member === proves.member && x.projectId === proves.project_id && x.documentId === proves.document_id,
      );
      return f === undefined ? 'no fact shows that document never filed' : null;
    }
    case 'project': {
      if (verdict.height !== proves.height) return `height ${verdict.height}, not ${proves.height}`;
      const f = verdict.facts.find((x) => x.kind === 'project' && x.projectId === proves.project_id);
      if (f === undefined) return 'no fact shows the project';
      if (!eq(f.totalValueMinor, proves.total_value_minor) || !eq(f.paidMinor, proves.paid_minor)) {
        return `value ${f.totalValueMinor}, paid ${f.paidMinor}; expected ${proves.total_value_minor}, ${proves.paid_minor}`;
      }
      if (f.milestones.length !== proves.milestones.length) return `${f.milestones.length} milestones, not ${proves.milestones.length}`;
      for (let i = 0; i < f.milestones.length; i++) {
        const a = f.milestones[i];
        const b = proves.milestones[i];
        if (a.id !== b.id || !eq(a.amountMinor, b.amount_minor) || !eq(a.paidMinor, b.paid_minor)) {
          return `milestone ${i}: ${a.id} ${a.amountMinor} paid ${a.paidMinor}; expected ${b.id} ${b.amount_minor} paid ${b.paid_minor}`;
        }
      }
      return null;
    }
    default:
      return `unknown proves kind ${proves.kind}`;
  }
}

for (const s of manifest.status_proofs ?? []) {
  const name = s.status_proof;
  const genesis = genesisFor(s.genesis ?? manifest.genesis);
  let withReceipt;
  if (s.receipt !== undefined) {
    // The receipt is a valid one of `vectors`, verified with its own document (README).
    const rv = manifest.vectors.find((v) => v.receipt === s.receipt);
    if (rv === undefined) {
      bad(name, `its receipt ${s.receipt} is not among the manifest's vectors`);
      continue;
    }
    const r = checkReceipt(rv);
    if (r.code !== 'valid') {
      bad(name, `its receipt ${s.receipt} does not verify: ${r.code} (${r.detail})`);
      continue;
    }
    withReceipt = { receipt: r.receipt, verdict: r.value };
  }
  const r = outcome(() => V.verifyStatusProof(genesis, V.readStatusProof(readFileSync(join(vectorsDir, name))), withReceipt));
  if (r.code !== s.expected) {
    bad(name, `expected ${s.expected}, got ${r.code}${r.detail ? ` (${r.detail})` : ''}`);
    continue;
  }
  if (r.code === 'valid') {
    if (s.proves === undefined) {
      bad(name, 'valid, but the manifest states nothing it proves');
      continue;
    }
    const problem = provesProblem(s.proves, r.value);
    if (problem !== null) {
      bad(name, `does not prove ${JSON.stringify(s.proves)}: ${problem}`);
      continue;
    }
    ok(name, r.value.text);
  } else {
    ok(name, `${r.code}: ${r.detail}`);
  }
}

if (receiptTimes.length > 0) {
  const sorted = [...receiptTimes].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(`# valid receipts: median ${median.toFixed(1)} ms to read, hash and verify (first ${receiptTimes[0].toFixed(1)} ms, max ${sorted[sorted.length - 1].toFixed(1)} ms)`);
}
// Every vector of the manifest ran (an empty or unread manifest must not pass).
const vectorCount = manifest.vectors.length + manifest.status_proofs.length;
if (manifest.vectors.length === 0 || manifest.status_proofs.length === 0 || passed + failed < vectorCount) {
  bad('the manifest', `${passed + failed} results for ${vectorCount} vectors`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

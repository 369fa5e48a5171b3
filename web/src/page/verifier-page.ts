// The court's web verifier: a document, its receipt and the genesis file in; the verdict that
// `evidence verify` prints out, in Chinese or English; an evidence certificate to print. Every
// check runs in this page (web/src/verifier, written from SPEC.md); nothing leaves it.
import {
  VerifyError,
  newHasher,
  readGenesis,
  readReceipt,
  readStatusProof,
  receiptDocumentAlgorithm,
  selfTest,
  verifyReceipt,
  verifyStatusProof,
  type Genesis,
  type ReceiptVerdict,
  type StatusVerdict,
} from "../verifier/index";
import { applyLanguage, codeText, t, type Lang } from "./i18n";
import { certificatePayload, qrSvg, scanImage } from "./qr";
import { claimText, escapeHtml, formatTime, memberLabel, signerLabels, statusFacts, statusText } from "./words";

const zh = (lang: Lang) => lang === "zh";

declare const __HASH_WORKER_SOURCE__: string;

type Slot = "document" | "receipt" | "genesis" | "status";

interface Loaded {
  name: string;
  file: Blob;
}

/** What the last verification found, kept so a change of language re-renders it. */
interface Names {
  document: string;
  receipt: string;
  status: string;
}

type Outcome =
  | { kind: "waiting"; missing: Slot[] }
  | { kind: "hashing"; done: number; total: number }
  | { kind: "invalid-genesis"; detail: string }
  | { kind: "invalid"; code: string; detail: string; names?: Names }
  | { kind: "status-only"; status: StatusVerdict; statusName: string }
  | { kind: "status-invalid"; code: string; detail: string; statusName: string }
  | {
      kind: "valid";
      genesis: Genesis;
      verdict: ReceiptVerdict;
      status: StatusVerdict | null;
      statusError: { code: string; detail: string } | null;
      /** The receipt file's bytes, as verified: what the certificate's QR code carries. */
      receiptBytes: Uint8Array;
      names: Names;
    };

const slots: Partial<Record<Slot, Loaded>> = {};
let lang: Lang = navigator.language.toLowerCase().startsWith("zh") ? "zh" : "en";
let outcome: Outcome = { kind: "waiting", missing: ["document", "receipt", "genesis"] };
let run = 0;
let notice: string | null = null;
/** The cryptography's self-test against the standards' examples, run once before any verdict. */
let selfTestFailures: string[] | null = null;

function checkedPrimitives(): string[] {
  selfTestFailures ??= selfTest()
    .filter((result) => !result.ok)
    .map((result) => `${result.name}: ${result.detail}`);
  return selfTestFailures;
}

/** The outcome when the cryptography failed its self-test: no verdict at all. */
function selfTestFailure(): Extract<Outcome, { kind: "invalid" }> | null {
  const broken = checkedPrimitives();
  if (broken.length === 0) return null;
  return {
    kind: "invalid",
    code: "self-test",
    detail: `this browser computes the cryptography wrongly, so the page gives no verdict: ${broken.join("; ")}`,
  };
}

const $ = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`#${id} is missing`);
  return element as T;
};

// ---------------------------------------------------------------------------------------------
// Hashing in a worker (a large drawing must not freeze the page), in the page as a fallback.

let workerUrl: string | null = null;
/** The hashing under way, if any: a new verification cancels it. */
let hashing: { worker: Worker | null; cancel: () => void } | null = null;

/** Raised in a verification that a newer one replaced; never shown. */
class Superseded extends Error {}

function cancelHashing(): void {
  hashing?.worker?.terminate();
  hashing?.cancel();
  hashing = null;
}

function hashInWorker(file: Blob, algorithm: string, onProgress: (done: number) => void): Promise<Uint8Array> {
  cancelHashing();
  return new Promise((resolve, reject) => {
    let cancelled = false;
    const mine = { worker: null as Worker | null, cancel: () => ((cancelled = true), reject(new Superseded())) };
    hashing = mine;
    const here = () =>
      hashHere(file, algorithm, onProgress, () => cancelled).then(resolve, reject);
    try {
      workerUrl ??= URL.createObjectURL(new Blob([__HASH_WORKER_SOURCE__], { type: "text/javascript" }));
      mine.worker = new Worker(workerUrl);
    } catch {
      void here();
      return;
    }
    const worker = mine.worker;
    const finish = () => {
      worker.terminate();
      if (hashing === mine) hashing = null;
    };
    worker.onmessage = (event: MessageEvent) => {
      const message = event.data as { progress?: number; done?: Uint8Array; error?: string };
      if (message.progress !== undefined) onProgress(message.progress);
      else if (message.done !== undefined) {
        finish();
        resolve(message.done);
      } else {
        finish();
        reject(new Error(message.error ?? "the hashing worker failed"));
      }
    };
    worker.onerror = () => {
      // A browser that cannot run the worker: hash in the page instead.
      worker.terminate();
      mine.worker = null;
      void here();
    };
    worker.postMessage({ file, algorithm });
  });
}

async function hashHere(
  file: Blob,
  algorithm: string,
  onProgress: (done: number) => void,
  cancelled: () => boolean,
): Promise<Uint8Array> {
  const hasher = newHasher(algorithm);
  if (hasher === null) throw new Error(`unknown digest algorithm ${algorithm}`);
  const slice = 4 * 1024 * 1024;
  for (let at = 0; at < file.size; at += slice) {
    if (cancelled()) throw new Superseded();
    hasher.update(new Uint8Array(await file.slice(at, at + slice).arrayBuffer()));
    onProgress(Math.min(file.size, at + slice));
  }
  return hasher.digest();
}

// ---------------------------------------------------------------------------------------------
// Verification.

async function bytesOf(loaded: Loaded): Promise<Uint8Array> {
  return new Uint8Array(await loaded.file.arrayBuffer());
}

function failure(error: unknown): { code: string; detail: string } {
  if (error instanceof VerifyError) return { code: error.code, detail: error.detail };
  return { code: "unreadable", detail: String(error instanceof Error ? error.message : error) };
}

/**
 * Verifies what the slots hold now. Each call supersedes the one before: its inputs are taken
 * once, at the start, and after every wait it gives up if a newer call has begun, so a verdict
 * is always of the files it names.
 */
async function verify(): Promise<void> {
  const mine = ++run;
  cancelHashing();
  const current = () => {
    if (mine !== run) throw new Superseded();
  };
  const inputs = { ...slots };
  try {
    setOutcome(await decide(inputs, current, (done, total) => {
      if (mine === run) setOutcome({ kind: "hashing", done, total });
    }));
  } catch (error) {
    if (!(error instanceof Superseded)) throw error;
  }
}

async function decide(
  inputs: Partial<Record<Slot, Loaded>>,
  current: () => void,
  progress: (done: number, total: number) => void,
): Promise<Outcome> {
  const read = async (loaded: Loaded) => {
    const bytes = await bytesOf(loaded);
    current();
    return bytes;
  };
  if (inputs.status && inputs.genesis && !inputs.receipt && !inputs.document) {
    // A status proof on its own: what its facts show (for example, that an id was never filed).
    const broken = selfTestFailure();
    if (broken !== null) return broken;
    const [genesisBytes, statusBytes] = [await read(inputs.genesis), await read(inputs.status)];
    let genesis: Genesis;
    try {
      genesis = readGenesis(genesisBytes);
    } catch (error) {
      return { kind: "invalid-genesis", detail: failure(error).detail };
    }
    try {
      return {
        kind: "status-only",
        status: verifyStatusProof(genesis, readStatusProof(statusBytes)),
        statusName: inputs.status.name,
      };
    } catch (error) {
      return { kind: "status-invalid", ...failure(error), statusName: inputs.status.name };
    }
  }
  const missing = (["document", "receipt", "genesis"] as Slot[]).filter((slot) => !inputs[slot]);
  if (missing.length > 0) return { kind: "waiting", missing };
  const broken = selfTestFailure();
  if (broken !== null) return { ...broken, names: names(inputs) };
  const document_ = inputs.document!;
  const genesisBytes = await read(inputs.genesis!);
  const receiptBytes = await read(inputs.receipt!);
  const statusBytes = inputs.status ? await read(inputs.status) : null;
  let genesis: Genesis;
  try {
    genesis = readGenesis(genesisBytes);
  } catch (error) {
    return { kind: "invalid-genesis", detail: failure(error).detail };
  }
  try {
    const receipt = readReceipt(receiptBytes);
    const algorithm = receiptDocumentAlgorithm(receipt);
    if (newHasher(algorithm) === null) {
      throw new VerifyError(
        "digest-mismatch",
        `the receipt names the digest algorithm ${algorithm}, which this verifier cannot compute`,
      );
    }
    progress(0, document_.file.size);
    const bytes = await hashInWorker(document_.file, algorithm, (done) => progress(done, document_.file.size));
    current();
    const verdict = verifyReceipt(genesis, receipt, { algorithm, bytes });
    let status: StatusVerdict | null = null;
    let statusError: { code: string; detail: string } | null = null;
    if (statusBytes !== null) {
      try {
        status = verifyStatusProof(genesis, readStatusProof(statusBytes), { receipt, verdict });
      } catch (error) {
        statusError = failure(error);
      }
    }
    return { kind: "valid", genesis, verdict, status, statusError, receiptBytes, names: names(inputs) };
  } catch (error) {
    if (error instanceof Superseded) throw error;
    return { kind: "invalid", ...failure(error), names: names(inputs) };
  }
}

/** The file names a verdict is about. */
function names(inputs: Partial<Record<Slot, Loaded>>): Names {
  return { document: inputs.document?.name ?? "", receipt: inputs.receipt?.name ?? "", status: inputs.status?.name ?? "" };
}

function setOutcome(next: Outcome): void {
  outcome = next;
  render();
}

// ---------------------------------------------------------------------------------------------
// Rendering.

function row(label: string, value: string, raw = false): string {
  return `<dt>${escapeHtml(label)}</dt><dd>${raw ? value : escapeHtml(value)}</dd>`;
}

function renderVerdict(): string {
  const L = lang;
  switch (outcome.kind) {
    case "waiting":
      return `<div class="verdict waiting" data-code="waiting"><p>${escapeHtml(
        t("waiting", L) + outcome.missing.map((slot) => t(`need.${slot}`, L)).join(L === "zh" ? "、" : ", "),
      )}</p></div>`;
    case "hashing": {
      const percent = outcome.total === 0 ? 100 : Math.floor((outcome.done / outcome.total) * 100);
      return `<div class="verdict waiting" data-code="hashing"><p>${escapeHtml(t("hashing", L))} … ${percent}%</p></div>`;
    }
    case "invalid-genesis":
      return `<div class="verdict invalid" data-code="invalid-genesis"><h2>${escapeHtml(t("genesis.title", L))}</h2><dl>${row(
        t("f.check", L),
        `invalid-genesis — ${codeText("invalid-genesis", L)}`,
      )}${row(t("f.reason", L), outcome.detail)}</dl></div>`;
    case "invalid":
      return `<div class="verdict invalid" data-code="${escapeHtml(outcome.code)}"><h2>${escapeHtml(
        t("invalid.title", L),
      )}</h2><dl>${row(t("f.file", L), outcome.names?.document ?? "")}${row(t("f.receipt", L), outcome.names?.receipt ?? "")}${row(
        t("f.check", L),
        `${outcome.code} — ${codeText(outcome.code, L)}`,
      )}${row(t("f.reason", L), outcome.detail)}</dl></div>`;
    case "status-only": {
      const s = outcome.status;
      const facts = statusFacts(s, L)
        .map((fact) => `<li>${escapeHtml(fact)}</li>`)
        .join("");
      return `<div class="verdict valid" data-code="valid" data-status="facts"><h2>${escapeHtml(t("status.valid.title", L))}</h2><dl>${row(
        zh(L) ? "状态证明" : "Status proof",
        outcome.statusName,
      )}${row(
        zh(L) ? "检查点" : "Checkpoint",
        zh(L)
          ? `高度 ${s.height}，${formatTime(s.atMs, L)}，投票权 ${s.signedPower} / ${s.totalPower}`
          : `height ${s.height}, ${formatTime(s.atMs, L)}, voting power ${s.signedPower} of ${s.totalPower}`,
      )}${row(zh(L) ? "证明的事实" : "Proved facts", `<ul class="facts">${facts}</ul>`, true)}</dl></div>`;
    }
    case "status-invalid":
      return `<div class="verdict invalid" data-code="${escapeHtml(outcome.code)}"><h2>${escapeHtml(
        t("status.only.invalid.title", L),
      )}</h2><dl>${row(zh(L) ? "状态证明" : "Status proof", outcome.statusName)}${row(
        t("f.check", L),
        `${outcome.code} — ${codeText(outcome.code, L)}`,
      )}${row(t("f.reason", L), outcome.detail)}</dl></div>`;
    case "valid":
      return renderValid(outcome);
  }
}

function renderValid(valid: Extract<Outcome, { kind: "valid" }>): string {
  const { genesis, verdict: v, status, statusError, names } = valid;
  const L = lang;
  const zh = L === "zh";
  let rows = "";
  rows += row(t("f.document", L), `${names.document} (${v.digest})`);
  rows += row(t("f.kind", L), v.kind);
  rows += row(t("f.project", L), v.projectId);
  const versionText = zh ? `${v.documentId}，第 ${v.documentVersion} 版` : `${v.documentId}, version ${v.documentVersion}`;
  rows += row(
    t("f.documentId", L),
    v.supersedes === null
      ? versionText
      : zh
        ? `${versionText}（替代摘要为 ${v.supersedes} 的版本）`
        : `${versionText} (replaces the version with digest ${v.supersedes})`,
  );
  if (v.claim !== null) rows += row(t("f.milestone", L), claimText(v.claim, L));
  rows += row(t("f.filedBy", L), `${v.filerName ? v.filerName + " " : ""}(${zh ? "密钥" : "key"} ${v.filer})`);
  rows += row(
    t("f.filerKey", L),
    v.registration === null
      ? zh
        ? "载于创世文件"
        : "in the genesis file"
      : zh
        ? `由其成员在账本上登记（高度 ${v.registration.height}，第 ${v.registration.entryIndex} 条），早于本次提交`
        : `registered by its member on the ledger at height ${v.registration.height} (entry ${v.registration.entryIndex}), before this filing`,
  );
  if (v.revocation !== null) {
    rows += row(
      t("f.filerRevoked", L),
      zh
        ? `自高度 ${v.revocation.effectiveHeight} 起吊销（${v.revocation.reason}），晚于本次提交：提交时密钥有效`
        : `from height ${v.revocation.effectiveHeight} (${v.revocation.reason}), after this filing: it was filed while the key was valid`,
    );
  }
  rows += row(t("f.member", L), memberLabel(genesis, v.member));
  rows += row(t("f.source", L), v.sourceSystem);
  rows += row(
    t("f.captured", L),
    `${formatTime(v.capturedAtMs, L)} ${zh ? "（由提交者声明并签名）" : "(as stated and signed by the filer)"}`,
  );
  rows += row(
    t("f.ledger", L),
    zh
      ? `高度 ${v.sequencedHeight} 的第 ${v.entryIndex} 条，${formatTime(v.sequencedAtMs, L)}（区块时间，经各验证节点按本地时钟核对并认证）`
      : `entry ${v.entryIndex} at height ${v.sequencedHeight}, ${formatTime(v.sequencedAtMs, L)} (the block's time, as the validators certified it: each checked it against its own clock)`,
  );
  rows += row(
    t("f.certified", L),
    zh
      ? `${signerLabels(genesis, v, L).join("、")}（投票权 ${v.checkpoint.signedPower} / ${v.checkpoint.totalPower}），高度 ${v.checkpoint.height}`
      : `${signerLabels(genesis, v, L).join(", ")} (voting power ${v.checkpoint.signedPower} of ${v.checkpoint.totalPower}) at height ${v.checkpoint.height}`,
  );
  rows += row(
    t("f.validatorSet", L),
    v.handoffHeights.length === 0
      ? zh
        ? "创世集合"
        : "the genesis set"
      : zh
        ? `${v.validatorSet}（由成员决议在高度 ${v.handoffHeights.join("、")} 从创世集合交接而来，每次交接由之前的集合认证）`
        : `${v.validatorSet} (the genesis set handed off by the members' decisions at height${v.handoffHeights.length === 1 ? "" : "s"} ${v.handoffHeights.join(", ")}, each certified by the set before it)`,
  );
  rows += row(
    t("f.consortium", L),
    zh ? `链 ${v.chainId}，创世摘要 ${v.genesisHash}` : `chain ${v.chainId}, genesis ${v.genesisHash}`,
  );
  let statusBlock = "";
  if (status !== null) {
    rows += row(
      t("f.status", L),
      zh
        ? `有效；${statusText(status, L)}（在高度 ${status.height} 的检查点下证明，依据状态证明 ${names.status}）`
        : `valid; ${statusText(status, L)} (proved under the checkpoint at height ${status.height}, by the status proof ${names.status})`,
    );
  }
  if (statusError !== null) {
    statusBlock = `<div class="verdict invalid" data-status-code="${escapeHtml(statusError.code)}"><h2>${escapeHtml(
      t("status.invalid.title", L),
    )}</h2><dl>${row(zh ? "状态证明" : "Status proof", names.status)}${row(
      t("f.check", L),
      `${statusError.code} — ${codeText(statusError.code, L)}`,
    )}${row(t("f.reason", L), statusError.detail)}</dl></div>`;
  }
  const statusAttr = status !== null ? ` data-status="${escapeHtml(status.version?.status ?? "facts")}"` : "";
  return `<div class="verdict valid" data-code="valid"${statusAttr}><h2>${escapeHtml(t("valid.title", L))}</h2><dl>${rows}</dl></div>${statusBlock}`;
}

function render(): void {
  applyLanguage(lang);
  for (const slot of ["document", "receipt", "genesis", "status"] as Slot[]) {
    const drop = document.querySelector<HTMLElement>(`[data-slot="${slot}"]`)!;
    drop.classList.toggle("filled", slots[slot] !== undefined);
    drop.querySelector<HTMLElement>("[data-name]")!.textContent = slots[slot]?.name ?? "";
  }
  const progress = $("progress");
  if (outcome.kind === "hashing") {
    progress.hidden = false;
    const bar = $<HTMLProgressElement>("progress-bar");
    bar.max = Math.max(1, outcome.total);
    bar.value = outcome.done;
    $("progress-text").textContent = `${t("hashing", lang)}: ${(outcome.done / 1048576).toFixed(1)} / ${(outcome.total / 1048576).toFixed(1)} MiB`;
  } else {
    progress.hidden = true;
  }
  const verdict = $("verdict");
  verdict.innerHTML = (notice ? `<p class="hint" id="notice">${escapeHtml(notice)}</p>` : "") + renderVerdict();
  const settled = ["valid", "invalid", "invalid-genesis"];
  verdict.dataset.state = settled.includes(outcome.kind)
    ? outcome.kind
    : outcome.kind === "status-only"
      ? "valid"
      : outcome.kind === "status-invalid"
        ? "invalid"
        : outcome.kind;
  const valid = outcome.kind === "valid";
  $("certificate-actions").hidden = !valid;
  if (!valid) {
    $("certificate").hidden = true;
    $("certificate").innerHTML = "";
    $("print-certificate").hidden = true;
  } else if (!$("certificate").hidden) {
    showCertificate();
  }
}

// ---------------------------------------------------------------------------------------------
// The evidence certificate.

/** The certificate of the verdict shown now, from the receipt bytes that verdict verified. */
function showCertificate(): void {
  if (outcome.kind !== "valid") return;
  const { genesis, verdict: v, receiptBytes, names } = outcome;
  const L = lang;
  const zh = L === "zh";
  const payload = certificatePayload(receiptBytes, {
    digest: v.digest,
    chain_id: v.chainId,
    genesis: v.genesisHash,
    member: v.member,
    project_id: v.projectId,
    document_id: v.documentId,
    version: v.documentVersion,
    entry: v.entryIndex,
    height: v.checkpoint.height,
  });
  const qr = qrSvg(payload.bytes);
  const cell = (label: string, value: string) => `<tr><th>${escapeHtml(label)}</th><td>${escapeHtml(value)}</td></tr>`;
  const both = (key: string) => `${t(key, "zh")} ${t(key, "en")}`;
  let rows = "";
  rows += cell(both("f.document"), names.document);
  rows += cell(both("cert.digest"), v.digest);
  rows += cell(both("f.kind"), v.kind);
  rows += cell(both("f.project"), v.projectId);
  rows += cell(both("f.documentId"), zh ? `${v.documentId}，第 ${v.documentVersion} 版` : `${v.documentId}, version ${v.documentVersion}`);
  if (v.supersedes !== null) rows += cell(zh ? "替代版本 Replaces" : "Replaces 替代版本", v.supersedes);
  if (v.claim !== null) rows += cell(both("f.milestone"), claimText(v.claim, L));
  rows += cell(both("f.filedBy"), `${v.filerName ? v.filerName + " · " : ""}${v.filer}`);
  rows += cell(both("f.member"), memberLabel(genesis, v.member));
  rows += cell(both("f.source"), v.sourceSystem);
  rows += cell(both("f.captured"), formatTime(v.capturedAtMs, L));
  rows += cell(both("cert.entry"), String(v.entryIndex));
  rows += cell(both("cert.height"), `${v.sequencedHeight} · ${formatTime(v.sequencedAtMs, L)}`);
  rows += cell(
    both("f.certified"),
    `${signerLabels(genesis, v, L).join(zh ? "、" : ", ")} (${v.checkpoint.signedPower}/${v.checkpoint.totalPower}) @ ${v.checkpoint.height}`,
  );
  rows += cell(both("f.consortium"), v.chainId);
  rows += cell(both("cert.genesisHash"), v.genesisHash);
  if (outcome.status !== null) rows += cell(both("f.status"), `${statusText(outcome.status, L)} @ ${outcome.status.height}`);
  rows += cell(both("cert.generated"), formatTime(Date.now(), L));
  const certificate = $("certificate");
  certificate.innerHTML = `<div class="cert" data-qr="${payload.kind}" data-qr-version="${qr.version}">
<h2>${escapeHtml(t("cert.title", "zh"))}</h2>
<p class="cert-sub">${escapeHtml(t("cert.sub", "zh"))}</p>
<table>${rows}</table>
<div class="qr-row"><div id="certificate-qr">${qr.svg}</div>
<p class="qr-note">${escapeHtml(t(payload.kind === "receipt" ? "cert.qr.receipt" : "cert.qr.reference", "zh"))}<br>${escapeHtml(
    t(payload.kind === "receipt" ? "cert.qr.receipt" : "cert.qr.reference", "en"),
  )}</p></div>
<p class="statement">${escapeHtml(t("cert.statement", "zh"))}</p>
<p class="statement">${escapeHtml(t("cert.statement", "en"))}</p>
</div>`;
  certificate.hidden = false;
  $("print-certificate").hidden = false;
}

// ---------------------------------------------------------------------------------------------
// Input: file pickers, drops on a slot or anywhere on the page, QR images.

function setSlot(slot: Slot, file: File): void {
  slots[slot] = { name: file.name, file };
  notice = null;
  void verify();
}

function classify(file: File): Slot {
  const name = file.name.toLowerCase();
  if (name.endsWith(".receipt.json")) return "receipt";
  if (name.endsWith(".status.json")) return "status";
  if (name.endsWith(".json") && name.includes("genesis")) return "genesis";
  return "document";
}

async function scan(file: File): Promise<void> {
  const payload = await scanImage(file).catch(() => "none" as const);
  if (payload === "none" || payload === "foreign") {
    notice = t(payload === "none" ? "qr.none" : "qr.foreign", lang);
    render();
    return;
  }
  if (payload.kind === "unreadable") {
    notice = `${t("qr.unreadable", lang)} ${payload.detail}`;
    render();
    return;
  }
  if (payload.kind === "reference") {
    const r = payload.reference;
    notice =
      lang === "zh"
        ? `${t("qr.reference", lang)}文件摘要 ${r.digest}；成员 ${r.member}，项目 ${r.project_id}，文件编号 ${r.document_id} 第 ${r.version} 版；链 ${r.chain_id}，日志第 ${r.entry} 条，检查点高度 ${r.height}；创世摘要 ${r.genesis}。可凭成员、项目、文件编号和版本向任一联盟成员的节点或网关调取回执。`
        : `${t("qr.reference", lang)} document digest ${r.digest}; member ${r.member}, project ${r.project_id}, document ${r.document_id} version ${r.version}; chain ${r.chain_id}, entry ${r.entry}, checkpoint height ${r.height}; genesis ${r.genesis}. Any member's node or gateway returns the receipt for that member, project, document and version.`;
    render();
    return;
  }
  slots.receipt = { name: "receipt (QR).receipt.json", file: new Blob([payload.receipt as BlobPart]) };
  notice = t("qr.loaded", lang);
  await verify();
}

function wire(): void {
  for (const slot of ["document", "receipt", "genesis", "status"] as Slot[]) {
    const drop = document.querySelector<HTMLElement>(`[data-slot="${slot}"]`)!;
    const input = drop.querySelector<HTMLInputElement>("input")!;
    input.addEventListener("change", () => {
      const file = input.files?.[0];
      if (file) setSlot(slot, file);
      input.value = "";
    });
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      event.stopPropagation();
      drop.classList.remove("over");
      const files = [...(event.dataTransfer?.files ?? [])];
      if (files.length === 1) setSlot(slot, files[0]!);
      else for (const file of files) slots[classify(file)] = { name: file.name, file };
      if (files.length > 1) void verify();
    });
  }
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    for (const file of event.dataTransfer?.files ?? []) slots[classify(file)] = { name: file.name, file };
    notice = null;
    void verify();
  });
  const qrInput = $<HTMLInputElement>("input-qr");
  qrInput.addEventListener("change", () => {
    const file = qrInput.files?.[0];
    qrInput.value = "";
    if (file) void scan(file);
  });
  $("clear").addEventListener("click", () => {
    for (const slot of Object.keys(slots) as Slot[]) delete slots[slot];
    notice = null;
    $("certificate").hidden = true;
    void verify();
  });
  for (const button of document.querySelectorAll<HTMLButtonElement>("[data-lang]")) {
    button.addEventListener("click", () => {
      lang = button.dataset.lang as Lang;
      render();
    });
  }
  $("show-certificate").addEventListener("click", () => showCertificate());
  $("print-certificate").addEventListener("click", () => window.print());
}

wire();
render();

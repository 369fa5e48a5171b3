// The project view: a project's milestones, paid against each milestone's amount, and the
// inspection reports and payments anchored against each. Served by the filing gateway at
// /projects/{project_id}. It reads the gateway's API, but believes none of it: the contract
// and the paid amounts are read from a status proof verified here against the genesis file,
// and each report and payment from its receipt, verified here too.
import {
  VerifyError,
  readGenesis,
  readReceipt,
  readStatusProof,
  receiptAnchoredDigest,
  verifyReceipt,
  verifyStatusProof,
  type Genesis,
  type ReceiptVerdict,
  type StatusVerdict,
} from "../verifier/index";
import { applyLanguage, codeText, t, type Lang } from "./i18n";
import { escapeHtml, formatTime, memberLabel, yuan } from "./words";

const TOKEN_KEY = "evidence-gateway-token";
const LOOKUP_PAGES_MAX = 200;

type ProjectFact = Extract<StatusVerdict["facts"][number], { kind: "project" }>;

interface Filing {
  verdict: ReceiptVerdict | null;
  /**
   * Why the filing is not counted: its receipt did not verify, or it verified but does not
   * belong in this list (another project's, or an entry listed twice).
   */
  failure: { code: string; detail: string } | null;
  /** Sequenced after the status proof's height: shown, not counted against the proved totals. */
  afterProof: boolean;
  /** A later version of the same document in this list, when there is one. */
  laterVersion: number | null;
  documentId: string;
  receiptText: string;
  /** A blob: URL of the receipt file, made when first shown. */
  url?: string;
}

type Model =
  | { kind: "loading" }
  | { kind: "token" }
  | { kind: "error"; title: string; detail: string }
  | {
      kind: "ready";
      genesis: Genesis;
      status: StatusVerdict;
      project: ProjectFact | null;
      filings: Filing[];
      /** The list stopped at the page limit: more filings may exist. */
      truncated: boolean;
      /** The genesis file matched a hash pinned in the address. */
      pinned: boolean;
    };

let lang: Lang = navigator.language.toLowerCase().startsWith("zh") ? "zh" : "en";
let model: Model = { kind: "loading" };

const $ = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`#${id} is missing`);
  return element as T;
};

function projectId(): string {
  const query = new URLSearchParams(location.search).get("project");
  if (query) return query;
  const match = /\/projects\/([^/]+)\/?$/.exec(location.pathname);
  try {
    return match ? decodeURIComponent(match[1]!) : "";
  } catch {
    return "";
  }
}

/**
 * A genesis hash the reader pinned in the address (`#genesis=blake3:…`): the consortium's
 * published one. With it, the page refuses a gateway that serves another genesis file, which
 * would otherwise make its own proofs verify.
 */
function pinnedGenesis(): string | null {
  return new URLSearchParams(location.hash.replace(/^#/, "")).get("genesis");
}

class Unauthorized extends Error {}

class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/** A GET of the gateway's, as text (with the token, when one was given). */
async function get(path: string): Promise<string> {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers: Record<string, string> = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, { headers, credentials: "same-origin", cache: "no-store" });
  if (response.status === 401) throw new Unauthorized();
  const text = await response.text();
  if (!response.ok) {
    let detail = text.slice(0, 500);
    try {
      const problem = JSON.parse(text) as { detail?: string; code?: string };
      detail = `${problem.code ?? response.status}: ${problem.detail ?? ""}`;
    } catch {
      // not problem+json: keep the text
    }
    throw new ApiProblem(response.status, detail);
  }
  return text;
}

function failure(error: unknown): { code: string; detail: string } {
  if (error instanceof VerifyError) return { code: error.code, detail: error.detail };
  return { code: "unreadable", detail: String(error instanceof Error ? error.message : error) };
}

/** Verifies one receipt against the digest its own anchor names: what it proves, or why not. */
function verifyFiling(genesis: Genesis, receipt: unknown, documentId: string): Filing {
  const receiptText = JSON.stringify(receipt, null, 2);
  try {
    const parsed = readReceipt(receiptText);
    const digest = receiptAnchoredDigest(parsed);
    if (digest === null) throw new VerifyError("not-an-anchor", "the entry is not an anchored document");
    const verdict = verifyReceipt(genesis, parsed, digest);
    return { verdict, failure: null, afterProof: false, laterVersion: null, documentId: verdict.documentId, receiptText };
  } catch (error) {
    return { verdict: null, failure: failure(error), afterProof: false, laterVersion: null, documentId, receiptText };
  }
}

/**
 * What the verified filings may count for: another project's filing or an entry listed twice
 * is flagged (a gateway could otherwise pad a milestone's list), a filing sequenced after the
 * proof's height is set apart from the proved totals, and each version that a later listed
 * version of the same document replaced is marked.
 */
function classify(filings: Filing[], projectId: string, provedHeight: number): void {
  const seen = new Set<number>();
  const latest = new Map<string, number>();
  for (const filing of filings) {
    const v = filing.verdict;
    if (v === null || filing.failure !== null) continue;
    if (v.projectId !== projectId) {
      filing.failure = { code: "other-project", detail: `the receipt is of project ${v.projectId}` };
    } else if (seen.has(v.entryIndex)) {
      filing.failure = { code: "listed-twice", detail: `log entry ${v.entryIndex} is listed more than once` };
    } else {
      seen.add(v.entryIndex);
      filing.afterProof = v.sequencedHeight > provedHeight;
      const key = JSON.stringify([v.member, v.documentId]);
      latest.set(key, Math.max(latest.get(key) ?? 0, v.documentVersion));
    }
  }
  for (const filing of filings) {
    const v = filing.verdict;
    if (v === null || filing.failure !== null) continue;
    const newest = latest.get(JSON.stringify([v.member, v.documentId])) ?? v.documentVersion;
    filing.laterVersion = newest > v.documentVersion ? newest : null;
  }
}

/** A filing that counts: verified, of this project, listed once. */
const counts = (filing: Filing) => filing.verdict !== null && filing.failure === null;

let loads = 0;

async function load(): Promise<void> {
  const mine = ++loads;
  const id = projectId();
  $("project-id").textContent = id;
  if (id === "") {
    setModel({ kind: "error", title: "no project", detail: "open this page at /projects/{project_id}" });
    return;
  }
  setModel({ kind: "loading" });
  const settle = (next: Model) => {
    if (mine === loads) setModel(next);
  };
  try {
    const genesis = readGenesis(await get("/genesis.json"));
    const pin = pinnedGenesis();
    if (pin !== null && pin.toLowerCase() !== genesis.genesisHash.toLowerCase()) {
      throw new VerifyError(
        "wrong-chain",
        `the gateway serves the genesis file ${genesis.genesisHash}, not the pinned ${pin}`,
      );
    }
    const payments = JSON.parse(await get(`/v1/projects/${encodeURIComponent(id)}/payments`)) as { status_proof: unknown };
    const status = verifyStatusProof(genesis, readStatusProof(JSON.stringify(payments.status_proof)));
    const project =
      (status.facts.find((fact) => fact.kind === "project" && fact.projectId === id) as ProjectFact | undefined) ?? null;
    if (project === null && !status.facts.some((fact) => fact.kind === "project-absent" && fact.projectId === id)) {
      throw new VerifyError("status-not-proved", `the status proof proves nothing of project ${id}`);
    }
    const filings: Filing[] = [];
    let token: string | null = null;
    let truncated = false;
    for (let page = 0; ; page++) {
      if (page === LOOKUP_PAGES_MAX) {
        truncated = true;
        break;
      }
      const query = new URLSearchParams({ project_id: id, limit: "500" });
      if (token) query.set("page_token", token);
      const answer = JSON.parse(await get(`/v1/lookup?${query}`)) as {
        results: { record_type: string; receipt: unknown; document?: { document_id?: string } | null }[];
        next_page_token: string | null;
      };
      for (const result of answer.results) {
        if (result.record_type !== "anchor") continue;
        filings.push(verifyFiling(genesis, result.receipt, String(result.document?.document_id ?? "")));
      }
      token = answer.next_page_token;
      if (!token) break;
    }
    classify(filings, id, status.height);
    settle({ kind: "ready", genesis, status, project, filings, truncated, pinned: pin !== null });
  } catch (error) {
    if (error instanceof Unauthorized) {
      sessionStorage.removeItem(TOKEN_KEY);
      settle({ kind: "token" });
    } else if (error instanceof VerifyError) {
      settle({
        kind: "error",
        title: lang === "zh" ? "核验失败" : "Verification failed",
        detail: `${error.code} — ${codeText(error.code, lang)}: ${error.detail}`,
      });
    } else {
      settle({ kind: "error", title: lang === "zh" ? "无法读取" : "Cannot read", detail: String((error as Error).message ?? error) });
    }
  }
}

function setModel(next: Model): void {
  model = next;
  render();
}

// ---------------------------------------------------------------------------------------------

function percent(paid: bigint, cap: bigint): number {
  if (cap === 0n) return paid > 0n ? 100 : 0;
  return Number((paid * 10000n) / cap) / 100;
}

function receiptLink(filing: Filing): string {
  filing.url ??= URL.createObjectURL(new Blob([filing.receiptText], { type: "application/json" }));
  const url = filing.url;
  const v = filing.verdict;
  const name = v ? `${v.documentId}-v${v.documentVersion}.receipt.json` : "receipt.json";
  return `<a href="${url}" download="${escapeHtml(name)}">${escapeHtml(t("project.receipt", lang))}</a>`;
}

function filingItem(filing: Filing, genesis: Genesis): string {
  const zh = lang === "zh";
  const v = filing.verdict;
  if (v === null || filing.failure !== null) {
    const f = filing.failure!;
    return `<li data-verified="false" data-code="${escapeHtml(f.code)}"><span class="check">✗</span><span class="what">${escapeHtml(
      filing.documentId,
    )} — ${escapeHtml(`${f.code}: ${codeText(f.code, lang)} (${f.detail})`)}</span><span>${receiptLink(filing)}</span></li>`;
  }
  let what = zh ? `${v.documentId} 第 ${v.documentVersion} 版（${v.kind}）` : `${v.documentId} v${v.documentVersion} (${v.kind})`;
  let kind = "document";
  const claim = v.claim as { type?: string; passed?: boolean; amountMinor?: bigint } | null;
  if (claim?.type === "inspection") {
    kind = "inspection";
    what += zh ? `：验收${claim.passed ? "通过" : "未通过"}` : `: inspection ${claim.passed ? "passed" : "failed"}`;
  } else if (claim?.type === "payment") {
    kind = "payment";
    what += zh ? `：付款 ${yuan(claim.amountMinor ?? 0n)} 元` : `: payment of ${yuan(claim.amountMinor ?? 0n)} yuan`;
  }
  let when = zh
    ? `${memberLabel(genesis, v.member)} · 高度 ${v.sequencedHeight} · ${formatTime(v.sequencedAtMs, lang)}`
    : `${memberLabel(genesis, v.member)} · height ${v.sequencedHeight} · ${formatTime(v.sequencedAtMs, lang)}`;
  if (filing.laterVersion !== null) {
    when += zh ? ` · 已被第 ${filing.laterVersion} 版取代` : ` · replaced by version ${filing.laterVersion}`;
  }
  if (filing.afterProof) {
    when += zh ? " · 晚于状态证明的高度，未计入上方金额" : " · after the status proof's height: not in the proved amounts above";
  }
  return `<li data-verified="true" data-kind="${kind}" data-document="${escapeHtml(v.documentId)}"${
    filing.afterProof ? ' data-after-proof="true"' : ""
  }${filing.laterVersion !== null ? ` data-replaced-by="${filing.laterVersion}"` : ""}><span class="check" title="${
    zh ? "回执已在浏览器中核验" : "receipt verified in this browser"
  }">✓</span><span class="what">${escapeHtml(what)}<br><span class="when">${escapeHtml(when)}</span></span><span>${receiptLink(
    filing,
  )}</span></li>`;
}

function renderReady(model: Extract<Model, { kind: "ready" }>): string {
  const zh = lang === "zh";
  const { status, project, filings, genesis } = model;
  const verified = filings.filter(counts).length;
  const anchor = model.pinned
    ? zh
      ? `依据：链 ${genesis.chainId}，创世摘要 ${genesis.genesisHash}（与地址中固定的创世摘要一致）。`
      : `Against: chain ${genesis.chainId}, genesis ${genesis.genesisHash} (the hash pinned in the address).`
    : zh
      ? `依据：链 ${genesis.chainId}，创世摘要 ${genesis.genesisHash}（取自本网关；请与联盟公布的创世摘要核对，或在地址后加 #genesis=<创世摘要> 固定）。`
      : `Against: chain ${genesis.chainId}, genesis ${genesis.genesisHash} (served by this gateway: compare it with the consortium's published hash, or pin it with #genesis=<hash> in the address).`;
  let proved = zh
    ? `✓ 已在浏览器中核验：合同与已付金额由高度 ${status.height}（${formatTime(status.atMs, lang)}）的检查点认证（投票权 ${status.signedPower} / ${status.totalPower}）；${verified} 份回执已核验。${anchor}`
    : `✓ Verified in this browser: the contract and paid amounts are certified by the checkpoint at height ${status.height} (${formatTime(status.atMs, lang)}, voting power ${status.signedPower} of ${status.totalPower}); ${verified} receipts verified. ${anchor}`;
  if (model.truncated) {
    proved += zh
      ? ` 注意：列表在 ${filings.length} 份后截断，可能还有更多文件。`
      : ` Note: the list stops after ${filings.length} filings; there may be more.`;
  }
  if (project === null) {
    return `<p class="proved">${escapeHtml(proved)}</p><p class="problem" data-registered="false">${escapeHtml(
      t("project.notRegistered", lang),
    )}</p>${otherList(filings, genesis, new Set())}`;
  }
  const figure = (label: string, value: string, key: string) =>
    `<div class="figure" data-figure="${key}"><div class="label">${escapeHtml(label)}</div><div class="value">${escapeHtml(value)}</div></div>`;
  let html = `<div class="summary">${figure(t("project.total", lang), `${yuan(project.totalValueMinor)} ${zh ? "元" : "yuan"}`, "total")}${figure(
    t("project.paid", lang),
    `${yuan(project.paidMinor)} ${zh ? "元" : "yuan"}`,
    "paid",
  )}${figure(t("project.remaining", lang), `${yuan(project.remainingMinor)} ${zh ? "元" : "yuan"}`, "remaining")}${figure(
    t("project.registrar", lang),
    memberLabel(genesis, project.registrarMember),
    "registrar",
  )}</div><p class="proved">${escapeHtml(proved)}</p>`;
  const milestoneIds = new Set(project.milestones.map((m) => m.id));
  for (const milestone of project.milestones) {
    const mine = filings.filter(
      (f) => counts(f) && (f.verdict?.claim as { milestone?: string } | null)?.milestone === milestone.id,
    );
    const share = percent(milestone.paidMinor, milestone.amountMinor);
    const level = share >= 100 ? "full" : share >= 90 ? "near" : "";
    // Payments are immutable and only added, so those sequenced up to the proof's height add
    // up to the proved amount exactly.
    const paidByReceipts = mine.reduce((sum, f) => {
      const claim = f.verdict?.claim as { type?: string; amountMinor?: bigint } | null;
      return claim?.type === "payment" && !f.afterProof ? sum + (claim.amountMinor ?? 0n) : sum;
    }, 0n);
    const sumOk = paidByReceipts === milestone.paidMinor;
    const sumText = sumOk
      ? zh
        ? `✓ 各付款回执合计 ${yuan(paidByReceipts)} 元，与经证明的已付金额一致`
        : `✓ the payments' receipts add up to ${yuan(paidByReceipts)} yuan, the proved paid amount`
      : zh
        ? `✗ 各付款回执合计 ${yuan(paidByReceipts)} 元，与经证明的已付金额 ${yuan(milestone.paidMinor)} 元不一致（可能有回执尚未列出）`
        : `✗ the payments' receipts add up to ${yuan(paidByReceipts)} yuan, not the proved ${yuan(milestone.paidMinor)} (some receipts may not be listed)`;
    html += `<article class="milestone" data-milestone="${escapeHtml(milestone.id)}" data-paid="${milestone.paidMinor}" data-cap="${
      milestone.amountMinor
    }">
<h3><span>${escapeHtml(zh ? `里程碑 ${milestone.id}` : `Milestone ${milestone.id}`)}</span><span class="amounts">${escapeHtml(
      zh
        ? `已付 ${yuan(milestone.paidMinor)} / ${yuan(milestone.amountMinor)} 元（${share.toFixed(1)}%），余 ${yuan(milestone.remainingMinor)} 元`
        : `paid ${yuan(milestone.paidMinor)} of ${yuan(milestone.amountMinor)} yuan (${share.toFixed(1)} %), ${yuan(milestone.remainingMinor)} left`,
    )}</span></h3>
<div class="bar-track" role="meter" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${share}"><div class="bar-fill ${level}" style="width: ${Math.min(
      100,
      share,
    )}%"></div></div>
<ul class="items">${mine.map((f) => filingItem(f, genesis)).join("") || `<li><span></span><span class="when">${escapeHtml(t("project.noItems", lang))}</span></li>`}</ul>
<p class="sum-check ${sumOk ? "ok" : "bad"}" data-sum-ok="${sumOk}">${escapeHtml(sumText)}</p>
</article>`;
  }
  return html + otherList(filings, genesis, milestoneIds);
}

function otherList(filings: Filing[], genesis: Genesis, milestoneIds: Set<string>): string {
  const others = filings.filter((f) => {
    const milestone = (f.verdict?.claim as { milestone?: string } | null)?.milestone;
    return !counts(f) || milestone === undefined || !milestoneIds.has(milestone);
  });
  if (others.length === 0) return "";
  return `<article class="milestone" data-milestone=""><h3><span>${escapeHtml(t("project.other", lang))}</span></h3><ul class="items">${others
    .map((f) => filingItem(f, genesis))
    .join("")}</ul></article>`;
}

function render(): void {
  applyLanguage(lang);
  $("token-form").hidden = model.kind !== "token";
  const section = $("project");
  section.dataset.state = model.kind;
  switch (model.kind) {
    case "loading":
      section.innerHTML = `<p>${escapeHtml(t("project.loading", lang))}</p>`;
      break;
    case "token":
      section.innerHTML = "";
      break;
    case "error":
      section.innerHTML = `<div class="problem"><strong>${escapeHtml(model.title)}</strong><br>${escapeHtml(model.detail)}</div>`;
      break;
    case "ready":
      section.innerHTML = renderReady(model);
      break;
  }
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $<HTMLInputElement>("token").value.trim();
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  void load();
});
for (const button of document.querySelectorAll<HTMLButtonElement>("[data-lang]")) {
  button.addEventListener("click", () => {
    lang = button.dataset.lang as Lang;
    render();
  });
}
render();
void load();

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
import { codeText, t, type Lang } from "./i18n";
import { escapeHtml, formatTime, memberLabel, yuan } from "./words";

const TOKEN_KEY = "evidence-gateway-token";
const LOOKUP_PAGES_MAX = 200;

type ProjectFact = Extract<StatusVerdict["facts"][number], { kind: "project" }>;

interface Filing {
  verdict: ReceiptVerdict | null;
  /** Why the receipt did not verify. */
  failure: { code: string; detail: string } | null;
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
  return match ? decodeURIComponent(match[1]!) : "";
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
    return { verdict: verifyReceipt(genesis, parsed, digest), failure: null, documentId, receiptText };
  } catch (error) {
    return { verdict: null, failure: failure(error), documentId, receiptText };
  }
}

async function load(): Promise<void> {
  const id = projectId();
  $("project-id").textContent = id;
  if (id === "") {
    setModel({ kind: "error", title: "no project", detail: "open this page at /projects/{project_id}" });
    return;
  }
  setModel({ kind: "loading" });
  try {
    const genesis = readGenesis(await get("/genesis.json"));
    const payments = JSON.parse(await get(`/v1/projects/${encodeURIComponent(id)}/payments`)) as { status_proof: unknown };
    const status = verifyStatusProof(genesis, readStatusProof(JSON.stringify(payments.status_proof)));
    const project =
      (status.facts.find((fact) => fact.kind === "project" && fact.projectId === id) as ProjectFact | undefined) ?? null;
    const filings: Filing[] = [];
    let token: string | null = null;
    for (let page = 0; page < LOOKUP_PAGES_MAX; page++) {
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
    setModel({ kind: "ready", genesis, status, project, filings });
  } catch (error) {
    if (error instanceof Unauthorized) {
      sessionStorage.removeItem(TOKEN_KEY);
      setModel({ kind: "token" });
    } else if (error instanceof VerifyError) {
      setModel({
        kind: "error",
        title: lang === "zh" ? "核验失败" : "Verification failed",
        detail: `${error.code} — ${codeText(error.code, lang)}: ${error.detail}`,
      });
    } else {
      setModel({ kind: "error", title: lang === "zh" ? "无法读取" : "Cannot read", detail: String((error as Error).message ?? error) });
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
  if (v === null) {
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
  const when = zh
    ? `${memberLabel(genesis, v.member)} · 高度 ${v.sequencedHeight} · ${formatTime(v.sequencedAtMs, lang)}`
    : `${memberLabel(genesis, v.member)} · height ${v.sequencedHeight} · ${formatTime(v.sequencedAtMs, lang)}`;
  return `<li data-verified="true" data-kind="${kind}" data-document="${escapeHtml(v.documentId)}"><span class="check" title="${
    zh ? "回执已在浏览器中核验" : "receipt verified in this browser"
  }">✓</span><span class="what">${escapeHtml(what)}<br><span class="when">${escapeHtml(when)}</span></span><span>${receiptLink(
    filing,
  )}</span></li>`;
}

function renderReady(model: Extract<Model, { kind: "ready" }>): string {
  const zh = lang === "zh";
  const { status, project, filings, genesis } = model;
  const proved = zh
    ? `✓ 已在浏览器中核验：合同与已付金额由高度 ${status.height}（${formatTime(status.atMs, lang)}）的检查点认证（投票权 ${status.signedPower} / ${status.totalPower}）；${filings.filter((f) => f.verdict).length} 份回执均已核验。`
    : `✓ Verified in this browser: the contract and paid amounts are certified by the checkpoint at height ${status.height} (${formatTime(status.atMs, lang)}, voting power ${status.signedPower} of ${status.totalPower}); ${filings.filter((f) => f.verdict).length} receipts verified.`;
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
    const mine = filings.filter((f) => (f.verdict?.claim as { milestone?: string } | null)?.milestone === milestone.id);
    const share = percent(milestone.paidMinor, milestone.amountMinor);
    const level = share >= 100 ? "full" : share >= 90 ? "near" : "";
    const paidByReceipts = mine.reduce((sum, f) => {
      const claim = f.verdict?.claim as { type?: string; amountMinor?: bigint } | null;
      return claim?.type === "payment" ? sum + (claim.amountMinor ?? 0n) : sum;
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
    return milestone === undefined || !milestoneIds.has(milestone);
  });
  if (others.length === 0) return "";
  return `<article class="milestone" data-milestone=""><h3><span>${escapeHtml(t("project.other", lang))}</span></h3><ul class="items">${others
    .map((f) => filingItem(f, genesis))
    .join("")}</ul></article>`;
}

function render(): void {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const element of document.querySelectorAll<HTMLElement>("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n!, lang);
  }
  $("lang-zh").setAttribute("aria-pressed", String(lang === "zh"));
  $("lang-en").setAttribute("aria-pressed", String(lang === "en"));
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

// Verdict parts in words, as `evidence verify` prints them, in Chinese or English.
import type { Genesis, ReceiptVerdict, StatusVerdict } from "../verifier/index";
import type { Lang } from "./i18n";

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

function civil(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(
    d.getUTCMinutes(),
  )}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
}

/** A time as UTC (as the CLI prints it), and in Chinese also as Beijing time (UTC+8). */
export function formatTime(ms: number, lang: Lang): string {
  const utc = `${civil(ms)} UTC`;
  return lang === "zh" ? `${civil(ms + 8 * 3600 * 1000)} 北京时间（${utc}）` : utc;
}

/** Fen (1/100 yuan) as yuan with two decimals and thousands separators. */
export function yuan(minor: bigint | number | string): string {
  const value = BigInt(minor);
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const whole = (abs / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "-" : ""}${whole}.${pad(Number(abs % 100n))}`;
}

type Claim = NonNullable<ReceiptVerdict["claim"]>;

export function claimText(claim: Claim, lang: Lang): string {
  const c = claim as Record<string, unknown>;
  const milestone = String(c.milestone ?? "");
  if (c.type === "inspection") {
    const passed = Boolean(c.passed);
    return lang === "zh"
      ? `里程碑 ${milestone} 的验收：${passed ? "通过" : "未通过"}`
      : `inspection of milestone ${milestone}: ${passed ? "passed" : "failed"}`;
  }
  const amount = c.amountMinor;
  if (c.type === "payment" && amount !== undefined) {
    const fen = String(amount);
    return lang === "zh"
      ? `里程碑 ${milestone} 的付款 ${yuan(fen)} 元（${fen} 分）`
      : `payment of ${fen} fen for milestone ${milestone}`;
  }
  return lang === "zh" ? `里程碑 ${milestone}` : `milestone ${milestone}`;
}

export function memberLabel(genesis: Genesis, member: string): string {
  const found = genesis.members.find((m) => m.id === member);
  return found ? `${member} — ${found.name}` : member;
}

export function signerLabels(genesis: Genesis, verdict: ReceiptVerdict, lang: Lang): string[] {
  return verdict.checkpoint.signers.map((signer) => {
    const validator = genesis.validators.find((v) => v.key === signer.key);
    if (validator) return validator.member;
    if (signer.member) return signer.member;
    return lang === "zh" ? `验证节点 ${signer.key}（创世后加入）` : `validator ${signer.key} (added since genesis)`;
  });
}

/** A proved version status in words: revoked (and superseded, when both), superseded, current. */
export function statusText(status: StatusVerdict, lang: Lang): string {
  const version = status.version;
  if (version === null) return status.text;
  if (version.revocation || version.supersededBy) return versionWords(version, lang);
  return lang === "zh"
    ? `截至高度 ${status.height}（${formatTime(status.atMs, lang)}）为当前版本`
    : `current version as of height ${status.height} (${formatTime(status.atMs, lang)})`;
}

type Fact = StatusVerdict["facts"][number];
interface VersionWords {
  supersededBy: { version: number; digest: string; height: number } | null;
  revocation: { height: number; reason: string } | null;
}

/** A version's supersession and revocation in words (revoked, superseded, both, or current). */
function versionWords(v: VersionWords, lang: Lang): string {
  const zh = lang === "zh";
  const superseded = v.supersededBy
    ? zh
      ? `已被第 ${v.supersededBy.version} 版（${v.supersededBy.digest}）于高度 ${v.supersededBy.height} 取代`
      : `superseded by version ${v.supersededBy.version} (${v.supersededBy.digest}) at height ${v.supersededBy.height}`
    : null;
  if (v.revocation) {
    const revoked = zh
      ? `已于高度 ${v.revocation.height} 撤销：${v.revocation.reason}`
      : `revoked at height ${v.revocation.height}: ${v.revocation.reason}`;
    return superseded ? `${revoked}${zh ? "；" : "; "}${superseded}` : revoked;
  }
  if (superseded) return superseded;
  return zh ? "当前版本" : "current";
}

/** What each fact of a status proof shows, in words. */
export function statusFacts(status: StatusVerdict, lang: Lang): string[] {
  const zh = lang === "zh";
  return status.facts.map((fact: Fact) => {
    switch (fact.kind) {
      case "document":
        return zh
          ? `成员 ${fact.member} 项目 ${fact.projectId} 的文件 ${fact.documentId}（${fact.documentKind}）：最新为第 ${fact.latestVersion} 版，摘要 ${fact.latest.digest}，日志第 ${fact.latest.entryIndex} 条，高度 ${fact.latest.height}；${versionWords(fact.latest, lang)}`
          : `document ${fact.documentId} (${fact.documentKind}) of project ${fact.projectId}, member ${fact.member}: latest version ${fact.latestVersion}, digest ${fact.latest.digest}, entry ${fact.latest.entryIndex} at height ${fact.latest.height}; ${versionWords(fact.latest, lang)}`;
      case "never-filed":
        return zh
          ? `成员 ${fact.member} 项目 ${fact.projectId} 下从未提交过编号为 ${fact.documentId} 的文件（截至高度 ${status.height}）`
          : `no document ${fact.documentId} was ever filed for project ${fact.projectId} by member ${fact.member} (as of height ${status.height})`;
      case "version":
        return zh
          ? `文件 ${fact.documentId} 第 ${fact.version} 版：摘要 ${fact.record.digest}，日志第 ${fact.record.entryIndex} 条，高度 ${fact.record.height}；${versionWords(fact.record, lang)}`
          : `document ${fact.documentId}, version ${fact.version}: digest ${fact.record.digest}, entry ${fact.record.entryIndex} at height ${fact.record.height}; ${versionWords(fact.record, lang)}`;
      case "version-absent":
        return zh
          ? `文件 ${fact.documentId} 第 ${fact.version} 版没有单独的记录（它是最新版本，或从未提交）`
          : `document ${fact.documentId}, version ${fact.version}: no separate record (it is the latest version, or was never filed)`;
      case "project": {
        const milestones = fact.milestones
          .map((m) =>
            zh
              ? `${m.id}：已付 ${yuan(m.paidMinor)} / ${yuan(m.amountMinor)} 元，余 ${yuan(m.remainingMinor)} 元`
              : `${m.id}: paid ${yuan(m.paidMinor)} of ${yuan(m.amountMinor)} yuan, ${yuan(m.remainingMinor)} left`,
          )
          .join(zh ? "；" : "; ");
        return zh
          ? `项目 ${fact.projectId}（由 ${fact.registrarMember} 登记）：合同额 ${yuan(fact.totalValueMinor)} 元，已付 ${yuan(fact.paidMinor)} 元，余 ${yuan(fact.remainingMinor)} 元；${milestones}`
          : `project ${fact.projectId} (registered by ${fact.registrarMember}): contract ${yuan(fact.totalValueMinor)} yuan, paid ${yuan(fact.paidMinor)}, ${yuan(fact.remainingMinor)} left; ${milestones}`;
      }
      case "project-absent":
        return zh
          ? `项目 ${fact.projectId} 未登记（截至高度 ${status.height}）`
          : `project ${fact.projectId} is not registered (as of height ${status.height})`;
    }
  });
}

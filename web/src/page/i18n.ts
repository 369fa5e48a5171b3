// The page's words in Chinese and English. The verdict's reason (the verifier's detail) is in
// English; each check code also has a one-line explanation here in both languages.

export type Lang = "zh" | "en";

type Table = Record<string, { zh: string; en: string }>;

export const TEXT: Table = {
  intro: {
    zh: "将文件、其存证回执和联盟的创世文件拖放到下面（或点击选择）。核验完全在本页面内完成，不联网、不上传任何内容：本页面可以从U盘直接打开。",
    en: "Drop the document, its receipt and the consortium's genesis file below (or click to choose them). Verification runs entirely in this page: nothing is uploaded and no network is used, so the page can be opened from a USB stick.",
  },
  "slot.document": { zh: "文件 · Document", en: "Document · 文件" },
  "slot.receipt": { zh: "存证回执 · Receipt", en: "Receipt · 存证回执" },
  "slot.genesis": { zh: "创世文件 · Genesis file", en: "Genesis file · 创世文件" },
  "slot.status": {
    zh: "状态证明（可选）· Status proof",
    en: "Status proof (optional) · 状态证明",
  },
  "hint.drop": {
    zh: "也可以一次拖入全部文件：以 .receipt.json 结尾的是回执，以 .status.json 结尾的是状态证明，含 genesis 的 JSON 是创世文件。",
    en: "You may also drop all files at once: a name ending in .receipt.json is the receipt, .status.json the status proof, and a JSON file with “genesis” in its name the genesis file.",
  },
  "action.scan": { zh: "扫描证书二维码图片", en: "Scan a certificate's QR code image" },
  "action.clear": { zh: "清除", en: "Clear" },
  "action.certificate": { zh: "生成存证证书", en: "Make the evidence certificate" },
  "action.print": { zh: "打印证书", en: "Print the certificate" },
  footer: {
    zh: "核验规则见联盟的格式规范（SPEC.md 第9节）。本页面不向任何服务器发送数据。",
    en: "The checks are those of the consortium's format specification (SPEC.md §9). This page sends nothing to any server.",
  },
  hashing: { zh: "正在计算文件摘要", en: "Hashing the document" },
  waiting: {
    zh: "还需要：",
    en: "Still needed: ",
  },
  "need.document": { zh: "文件", en: "the document" },
  "need.receipt": { zh: "存证回执", en: "the receipt" },
  "need.genesis": { zh: "创世文件", en: "the genesis file" },
  "valid.title": {
    zh: "有效：此文件即回执在账本上锚定的文件。",
    en: "VALID: this file is the document the receipt anchors on the ledger.",
  },
  "invalid.title": {
    zh: "无效：该回执不能证明此文件已上链。",
    en: "INVALID: the receipt does not prove that this file was anchored.",
  },
  "genesis.title": {
    zh: "无法使用该创世文件。",
    en: "The genesis file cannot be used.",
  },
  "status.invalid.title": {
    zh: "状态证明无效：它不能证明此版本的状态。",
    en: "INVALID STATUS: the status proof does not prove this version's status.",
  },
  "status.valid.title": {
    zh: "状态证明有效：以下事实在经认证的检查点下得到证明。",
    en: "VALID STATUS PROOF: the facts below are proved under a certified checkpoint.",
  },
  "status.only.invalid.title": {
    zh: "状态证明无效。",
    en: "INVALID STATUS PROOF.",
  },
  "project.intro": {
    zh: "项目的合同、各里程碑的验收报告和付款。每一项都由本页面在浏览器中依据联盟创世文件核验：已付金额来自经检查点认证的状态证明，每份报告和付款来自其存证回执。",
    en: "The project's contract, and the inspection reports and payments anchored against each milestone. This page verifies every item in the browser against the consortium's genesis file: the paid amounts come from a status proof under a certified checkpoint, each report and payment from its receipt.",
  },
  "project.token": { zh: "网关访问令牌", en: "Gateway API token" },
  "project.show": { zh: "显示项目", en: "Show the project" },
  "project.footer": {
    zh: "数据取自本成员的存证网关，但每一项都在本页面内独立核验，不依赖网关的说法。",
    en: "The data comes from this member's filing gateway, but every item is verified in this page, independently of what the gateway says.",
  },
  "project.loading": { zh: "正在读取并核验……", en: "Reading and verifying…" },
  "project.notRegistered": { zh: "该项目未在账本上登记合同。", en: "No contract is registered for this project on the ledger." },
  "project.total": { zh: "合同总额", en: "Contract value" },
  "project.paid": { zh: "已付", en: "Paid" },
  "project.remaining": { zh: "剩余", en: "Remaining" },
  "project.registrar": { zh: "登记成员", en: "Registered by" },
  "project.other": { zh: "其他文件（未关联里程碑）", en: "Other documents (no milestone)" },
  "project.noItems": { zh: "尚无验收报告或付款。", en: "No inspection report or payment yet." },
  "project.receipt": { zh: "回执", en: "receipt" },
  "f.document": { zh: "文件", en: "Document" },
  "f.kind": { zh: "种类", en: "Kind" },
  "f.project": { zh: "项目", en: "Project" },
  "f.documentId": { zh: "文件编号", en: "Document id" },
  "f.milestone": { zh: "里程碑", en: "Milestone" },
  "f.filedBy": { zh: "提交者", en: "Filed by" },
  "f.filerKey": { zh: "提交密钥", en: "Filer key" },
  "f.filerRevoked": { zh: "密钥吊销", en: "Filer revoked" },
  "f.member": { zh: "所属成员", en: "For member" },
  "f.source": { zh: "来源系统", en: "Source system" },
  "f.captured": { zh: "采集时间", en: "Captured at" },
  "f.ledger": { zh: "上链", en: "On the ledger" },
  "f.certified": { zh: "认证", en: "Certified by" },
  "f.validatorSet": { zh: "验证节点集合", en: "Validator set" },
  "f.consortium": { zh: "联盟", en: "Consortium" },
  "f.status": { zh: "当前状态", en: "Status" },
  "f.check": { zh: "未通过的检查", en: "Failed check" },
  "f.reason": { zh: "原因", en: "Reason" },
  "f.file": { zh: "文件", en: "File" },
  "f.receipt": { zh: "回执", en: "Receipt" },
  "cert.title": { zh: "存证证书", en: "Evidence Certificate" },
  "cert.sub": {
    zh: "Evidence Certificate · 区块链存证核验结果",
    en: "存证证书 · the result of verifying a ledger receipt",
  },
  "cert.qr.receipt": {
    zh: "二维码含完整的存证回执（压缩）。用本核验页面“扫描证书二维码图片”即可取回回执，并与文件和创世文件一起离线核验。",
    en: "The QR code carries the whole receipt (compressed). Scan it with this verifier page (“Scan a certificate's QR code image”) to get the receipt back and verify it offline with the document and the genesis file.",
  },
  "cert.qr.reference": {
    zh: "回执太大，二维码无法容纳，故二维码只含文件摘要、账本位置和创世摘要。请向提交方或联盟成员索取完整回执进行核验。",
    en: "The receipt is too large for a QR code, so the code carries the document digest, its place on the ledger and the genesis hash. Ask the filing party or a consortium member for the whole receipt to verify it.",
  },
  "cert.statement": {
    zh: "本证书由存证核验页面根据上述回执、文件与联盟创世文件离线生成。回执由联盟成员验证节点以超过三分之二的投票权共同签署的检查点认证；任何人可用同一文件、回执与创世文件，依据公开的格式规范独立复核。证书本身不是证据，回执和文件才是。",
    en: "This certificate was produced offline by the evidence verifier page from the receipt, the document and the consortium's genesis file above. The receipt is certified by a checkpoint signed by the members' validators holding more than two thirds of the voting power; anyone can re-check it independently from the same files under the published format specification. The certificate is not itself the evidence: the receipt and the document are.",
  },
  "cert.generated": { zh: "生成时间", en: "Made at" },
  "cert.genesisHash": { zh: "创世摘要", en: "Genesis hash" },
  "cert.digest": { zh: "文件摘要", en: "Document digest" },
  "cert.height": { zh: "账本高度与时间", en: "Ledger height and time" },
  "cert.entry": { zh: "日志序号", en: "Log entry" },
  "qr.none": {
    zh: "图片中没有找到二维码。",
    en: "No QR code was found in the image.",
  },
  "qr.foreign": {
    zh: "该二维码不是存证证书的二维码。",
    en: "This QR code is not an evidence certificate's.",
  },
  "qr.reference": {
    zh: "该证书的二维码只含回执的摘要信息（回执过大）：",
    en: "This certificate's QR code carries only a reference to the receipt (the receipt was too large):",
  },
  "qr.unreadable": {
    zh: "这是存证证书的二维码，但其中的数据无法读取：",
    en: "This is an evidence certificate's code, but its data cannot be read:",
  },
  "qr.loaded": {
    zh: "已从二维码取回存证回执。",
    en: "The receipt was read back from the QR code.",
  },
};

/** One line per check code of SPEC.md §9: what failed, in words a clerk can read. */
export const CODES: Table = {
  "not-json": { zh: "文件不是所需格式的 JSON", en: "the file is not JSON of the required shape" },
  "wrong-file-type": { zh: "文件类型不对", en: "the file is of another type" },
  "unsupported-version": { zh: "不支持的格式版本", en: "a format version this verifier does not read" },
  "bad-hex": { zh: "十六进制编码错误", en: "a field is not valid hexadecimal" },
  malformed: { zh: "数据结构不合规范", en: "a part does not decode under the specification" },
  "wrong-suite": { zh: "算法套件与联盟不符", en: "another algorithm suite than the consortium's" },
  "wrong-chain": { zh: "属于另一条链或另一联盟", en: "evidence of another chain or consortium" },
  "unknown-validator-set": { zh: "验证节点集合不符", en: "certified by another validator set" },
  "certificate-for-other-block": { zh: "签名证书不属于该区块", en: "the certificate is for another block" },
  "unknown-signer": { zh: "签名者不是验证节点", en: "a signer is not a validator" },
  "duplicate-signer": { zh: "同一验证节点重复签名", en: "a validator signed twice" },
  "bad-validator-signature": { zh: "验证节点签名无效", en: "a validator's signature is invalid" },
  "insufficient-power": { zh: "签名投票权未超过三分之二", en: "the signers hold no more than two thirds of the power" },
  "bad-handoff": { zh: "验证节点集合交接无效", en: "a validator-set hand-off does not verify" },
  "handoff-out-of-order": { zh: "交接顺序错误", en: "hand-offs out of height order" },
  "handoff-set-mismatch": { zh: "交接的验证节点集合不符", en: "a hand-off's set is not the one its header names" },
  "handoff-not-a-change": { zh: "交接并未改变验证节点集合", en: "a hand-off that changes nothing" },
  "checkpoint-before-handoff": { zh: "检查点早于交接", en: "the checkpoint is not after the last hand-off" },
  "log-size-mismatch": { zh: "包含证明与日志大小不符", en: "the inclusion proof is for another log size" },
  "entry-index-mismatch": { zh: "包含证明与日志序号不符", en: "the inclusion proof is for another entry" },
  "bad-inclusion-proof": { zh: "包含证明形状错误", en: "the inclusion proof has the wrong shape" },
  "header-root-mismatch": { zh: "日志根与区块头不符（回执被改动）", en: "the log root differs from the header's (the receipt was altered)" },
  "not-an-anchor": { zh: "日志条目不是文件存证", en: "the entry is not an anchored document" },
  "entry-wrong-chain": { zh: "条目属于另一条链", en: "the entry names another chain" },
  "bad-batch-length": { zh: "批次长度无效", en: "an invalid batch length" },
  "bad-batch-proof": { zh: "批次证明无效", en: "the batch proof does not verify" },
  "bad-filer-signature": { zh: "提交者签名无效", en: "the filer's signature is invalid" },
  "digest-mismatch": { zh: "文件摘要与回执不符：文件被改动或不是该文件", en: "the document's digest differs from the receipt's: the file was altered or is another file" },
  "filer-not-registered": { zh: "提交密钥未登记", en: "the filer key is not registered for the member" },
  "bad-registration-proof": { zh: "密钥登记证明无效", en: "the registration's proof does not verify" },
  "registration-mismatch": { zh: "密钥登记与存证不符", en: "the registration does not cover this filing" },
  "bad-revocation-proof": { zh: "密钥吊销证明无效", en: "the revocation's proof does not verify" },
  "revocation-mismatch": { zh: "吊销记录与提交密钥不符", en: "the revocation does not revoke this filer" },
  "filer-revoked": { zh: "提交时密钥已被吊销", en: "the filer's key was revoked before the filing" },
  "bad-state-proof": { zh: "状态证明不能说明所述事实", en: "a state proof does not show what it claims" },
  "state-root-mismatch": { zh: "状态证明与区块头的状态根不符", en: "a state proof leads to another state root" },
  "status-not-proved": { zh: "状态证明未包含此版本的记录", en: "the status proof does not hold this version's record" },
  "status-mismatch": { zh: "状态证明中的记录与回执不符", en: "the proved record differs from the receipt" },
  "other-project": { zh: "回执属于另一个项目", en: "the receipt is of another project" },
  "listed-twice": { zh: "同一日志条目被重复列出", en: "the same log entry is listed twice" },
  "invalid-genesis": { zh: "创世文件无效", en: "the genesis file is not acceptable" },
  "self-test": {
    zh: "本浏览器的密码运算未通过自检（SM3、SM2、Ed25519 标准示例），页面不给出结论",
    en: "this browser failed the cryptography's self-test (the SM3, SM2 and Ed25519 standard examples), so the page gives no verdict",
  },
  unreadable: { zh: "无法读取文件", en: "a file could not be read" },
};

export function t(key: string, lang: Lang): string {
  return TEXT[key]?.[lang] ?? key;
}

export function codeText(code: string, lang: Lang): string {
  return CODES[code]?.[lang] ?? code;
}

/** Puts the page's static words (`data-i18n`) and the language buttons in `lang`. */
export function applyLanguage(lang: Lang): void {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const element of document.querySelectorAll<HTMLElement>("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n!, lang);
  }
  document.getElementById("lang-zh")?.setAttribute("aria-pressed", String(lang === "zh"));
  document.getElementById("lang-en")?.setAttribute("aria-pressed", String(lang === "en"));
}

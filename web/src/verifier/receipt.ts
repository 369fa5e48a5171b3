/**
 * Receipts (SPEC §8.1): reading (§9.3 step 0) and verification (§9.3 steps 1–8, with §9.2,
 * §9.4 and §9.5).
 */
import { bytesEqual } from './bytes.js';
import { fail } from './errors.js';
import { Writer } from './encoding.js';
import { digestName, digestTag, digestText, type Digest } from './hash.js';
import { keyEqual, keyId, keyText, signatureName, verifySignature } from './keys.js';
import { leafHash, rootFromInclusionProof } from './merkle.js';
import { verifyCertifiedHeader, type Handoff } from './checkpoint.js';
import type { Genesis, TrustAnchor } from './genesis.js';
import {
  decodeCertificate,
  decodeEntry,
  decodeHeader,
  decodeInclusionProof,
  type AnchorBody,
  type BlockHeader,
  type CommitCertificate,
  type Entry,
  type FilerRegistration,
  type FilerRevocation,
  type GovernanceTransaction,
  type InclusionProof,
} from './structures.js';
import {
  decodeHandoffs,
  handoffsShape,
  hexField,
  parseTopObject,
  requireFields,
  requireObject,
  requireString,
  requireVersion,
  shortNumber,
} from './files.js';

export const ANCHOR_BATCH_PREFIX = 'evidence/v1/anchor-batch\n';
export const GOVERNANCE_PREFIX = 'evidence/v1/governance\n';

/** An entry with its inclusion proof in the checkpoint's log (a registration or revocation, §8.1). */
export interface ProvedEntry {
  readonly entry: Entry;
  readonly inclusionProof: InclusionProof;
}

/** A receipt file, read and decoded (§9.3 step 0). */
export interface Receipt {
  readonly version: number;
  readonly handoffs: readonly Handoff[];
  readonly entry: Entry;
  readonly inclusionProof: InclusionProof;
  readonly header: BlockHeader;
  readonly certificate: CommitCertificate;
  readonly registration: ProvedEntry | null;
  readonly revocation: ProvedEntry | null;
}

const RECEIPT_FIELDS = ['type', 'version', 'entry', 'inclusion_proof', 'header', 'certificate'];
const RECEIPT_OPTIONAL = ['handoffs', 'registration', 'revocation'];

function provedEntryShape(o: ReturnType<typeof parseTopObject>, name: string): { entry: string; inclusion_proof: string } | null {
  const j = o.fields.get(name);
  if (j === undefined) return null;
  const obj = requireObject(j, `"${name}"`);
  requireFields(obj, `"${name}"`, ['entry', 'inclusion_proof']);
  return { entry: requireString(obj, 'entry', `"${name}"`), inclusion_proof: requireString(obj, 'inclusion_proof', `"${name}"`) };
}

/**
 * §9.3 step 0 on a receipt file's bytes or text: throws VerifyError with not-json,
 * wrong-file-type, unsupported-version, bad-hex or malformed, in the order step 0 states.
 */
export function readReceipt(file: string | Uint8Array): Receipt {
  // The JSON and its shape [not-json].
  const top = parseTopObject(file);
  requireFields(top, 'the receipt', RECEIPT_FIELDS, RECEIPT_OPTIONAL);
  const type = requireString(top, 'type', 'the receipt');
  const version = requireVersion(top);
  const entryHex = requireString(top, 'entry', 'the receipt');
  const proofHex = requireString(top, 'inclusion_proof', 'the receipt');
  const headerHex = requireString(top, 'header', 'the receipt');
  const certificateHex = requireString(top, 'certificate', 'the receipt');
  const handoffs = handoffsShape(top.fields.get('handoffs'));
  const registration = provedEntryShape(top, 'registration');
  const revocation = provedEntryShape(top, 'revocation');
  // The type [wrong-file-type], the version [unsupported-version].
  if (type !== 'evidence-receipt') fail('wrong-file-type', `the type is "${type}", not "evidence-receipt"`);
  if (version !== 1n && version !== 2n) fail('unsupported-version', `receipt version ${shortNumber(version)} is not read (1 or 2)`);
  // Version 1 has none of the further fields, version 2 at least one; hand-offs not empty [not-json].
  const extras = RECEIPT_OPTIONAL.filter((f) => top.fields.has(f));
  if (version === 1n && extras.length > 0) fail('not-json', `a version 1 receipt has no "${extras[0]}"`);
  if (version === 2n && extras.length === 0) fail('not-json', 'a version 2 receipt has at least one of "handoffs", "registration", "revocation"');
  if (handoffs !== null && handoffs.length === 0) fail('not-json', '"handoffs" is empty');
  // The binary fields, one after the other [bad-hex, malformed].
  const ho = decodeHandoffs(handoffs ?? []);
  const entry = decodeEntry(hexField(entryHex, 'entry'), 'entry');
  const inclusionProof = decodeInclusionProof(hexField(proofHex, 'inclusion_proof'), 'inclusion_proof');
  const header = decodeHeader(hexField(headerHex, 'header'), 'header');
  const certificate = decodeCertificate(hexField(certificateHex, 'certificate'), 'certificate');
  const proved = (s: { entry: string; inclusion_proof: string } | null, name: string): ProvedEntry | null => {
    if (s === null) return null;
    const e = decodeEntry(hexField(s.entry, `${name}.entry`), `${name}.entry`);
    const p = decodeInclusionProof(hexField(s.inclusion_proof, `${name}.inclusion_proof`), `${name}.inclusion_proof`);
    return { entry: e, inclusionProof: p };
  };
  const reg = proved(registration, 'registration');
  const rev = proved(revocation, 'revocation');
  return { version: Number(version), handoffs: ho, entry, inclusionProof, header, certificate, registration: reg, revocation: rev };
}

/**
 * The §3 text name of the algorithm the receipt's anchor names for its document digest
 * (body.digest). For a receipt whose entry is no anchor (it fails before step 7, so any
 * algorithm will do) the name of the algorithm of the header's log root.
 */
export function receiptDocumentAlgorithm(receipt: Receipt): string {
  const rec = receipt.entry.record;
  if (rec.tag === 1) return digestName(rec.anchor.body.digest.tag)!;
  return digestName(receipt.header.logRoot.tag)!;
}

/**
 * The document digest the receipt's anchor names, or null when the entry is no anchor. For
 * checking a receipt on its own (a project's list of filings, with no documents at hand):
 * verifyReceipt with this digest proves what the receipt says, without a document to compare.
 */
export function receiptAnchoredDigest(receipt: Receipt): { algorithm: string; bytes: Uint8Array } | null {
  const rec = receipt.entry.record;
  if (rec.tag !== 1) return null;
  const algorithm = digestName(rec.anchor.body.digest.tag);
  return algorithm === null ? null : { algorithm, bytes: rec.anchor.body.digest.bytes };
}

export interface ReceiptVerdict {
  /** body.digest, text form "alg:hex". */
  digest: string;
  kind: string;
  projectId: string;
  documentId: string;
  documentVersion: number;
  /** Text form digest of the replaced version, if any. */
  supersedes: string | null;
  /** The anchor's milestone claim, if the body has one (§6.1). */
  claim:
    | { type: 'inspection'; milestone: string; passed: boolean; [k: string]: unknown }
    | { type: 'payment'; milestone: string; amountMinor: bigint; [k: string]: unknown }
    | null;
  filer: string;
  filerName: string | null;
  /** How the filer may file: a genesis filer of the member, or registered on the ledger. */
  filerStanding: 'genesis' | 'registered';
  member: string;
  memberName: string | null;
  sourceSystem: string;
  capturedAtMs: number;
  registration: { height: number; entryIndex: number; name: string | null } | null;
  revocation: { effectiveHeight: number; reason: string; height: number; entryIndex: number } | null;
  entryIndex: number;
  sequencedHeight: number;
  sequencedAtMs: number;
  checkpoint: {
    height: number;
    timeMs: number;
    logSize: number;
    signedPower: number;
    totalPower: number;
    signedPowerExact: bigint;
    totalPowerExact: bigint;
    signers: { key: string; member: string | null; name: string | null }[];
    /** The header hash, text form. */
    headerHash?: string;
  };
  handoffHeights: number[];
  /** Hash text of the set that certified the checkpoint. */
  validatorSet: string;
  chainId: string;
  genesisHash: string;
  /** One English sentence: the verdict. */
  text: string;
}

function inclusionCode(anchor: TrustAnchor, header: BlockHeader, pe: ProvedEntry, code: string, what: string): void {
  const p = pe.inclusionProof;
  if (p.treeSize !== header.logSize) fail(code, `the ${what}'s inclusion proof is for a log of ${p.treeSize} entries; the checkpoint's log has ${header.logSize}`);
  if (p.leafIndex !== pe.entry.index) fail(code, `the ${what}'s inclusion proof is for leaf ${p.leafIndex}; its entry is ${pe.entry.index}`);
  const root = rootFromInclusionProof(anchor.digestTag, leafHash(anchor.digestTag, pe.entry.encoding), p.leafIndex, p.treeSize, p.path);
  if (root === null) fail(code, `the ${what}'s inclusion proof has the wrong shape`);
  if (header.logRoot.tag !== anchor.digestTag || !bytesEqual(root, header.logRoot.bytes)) {
    fail(code, `the ${what}'s entry and inclusion proof do not lead to the checkpoint's log root`);
  }
}

/** §9.5 2.2 / 3.2 up to the member: a signed governance transaction of this chain, by the anchor's member. */
function governanceOf(anchor: TrustAnchor, pe: ProvedEntry, body: AnchorBody, code: string, what: string): GovernanceTransaction {
  const rec = pe.entry.record;
  if (rec.tag !== 4) fail(code, `the ${what} entry (${pe.entry.index}) is no governance transaction (record tag ${rec.tag})`);
  const g = rec.governance;
  if (g.chainId !== anchor.chainId) fail(code, `the ${what} names chain "${g.chainId}"`);
  const message = new Writer().text(GOVERNANCE_PREFIX).raw(g.bodyEncoding).finish();
  if (!verifySignature(g.signer, g.signature, message)) {
    fail(code, `the ${what}'s governance signature by ${keyText(g.signer)} does not verify`);
  }
  if (g.member !== body.member) fail(code, `the ${what} is by member "${g.member}", the anchor's member is "${body.member}"`);
  return g;
}

interface FilerEvidence {
  standing: 'genesis' | 'registered';
  name: string | null;
  registration: { height: bigint; entryIndex: bigint; filer: FilerRegistration } | null;
  revocation: { height: bigint; entryIndex: bigint; filer: FilerRevocation } | null;
}

/** §9.5, the filer evidence (§9.3 step 8). */
function verifyFilerEvidence(anchor: TrustAnchor, receipt: Receipt, body: AnchorBody): FilerEvidence {
  const h = receipt.entry.height;
  const header = receipt.header;
  let standing: FilerEvidence['standing'];
  let name: string | null = null;
  let registration: FilerEvidence['registration'] = null;
  let revocation: FilerEvidence['revocation'] = null;
  if (receipt.registration === null) {
    // 1. a genesis filer of the anchor's member
    const f = anchor.filers.find((gf) => keyEqual(gf.key, body.filer) && gf.member === body.member);
    if (f === undefined) {
      const other = anchor.filers.find((gf) => keyEqual(gf.key, body.filer));
      fail(
        'filer-not-registered',
        other !== undefined
          ? `${keyText(body.filer)} is a genesis filer of "${other.member}", not of "${body.member}", and the receipt carries no registration`
          : `${keyText(body.filer)} is no genesis filer and the receipt carries no registration`,
      );
    }
    standing = 'genesis';
    name = f.name;
  } else {
    // 2. a registration
    const pe = receipt.registration;
    inclusionCode(anchor, header, pe, 'bad-registration-proof', 'registration');
    const g = governanceOf(anchor, pe, body, 'registration-mismatch', 'registration');
    const a = g.action;
    if (a.tag !== 1 && a.tag !== 3) fail('registration-mismatch', `the registration entry's action (tag ${a.tag}) registers no filer`);
    const r = a.registration;
    if (!keyEqual(r.key, body.filer)) fail('registration-mismatch', `the registration is of ${keyText(r.key)}, the anchor's filer is ${keyText(body.filer)}`);
    if (!r.kinds.includes(body.kind)) fail('registration-mismatch', `the registration does not list the kind "${body.kind}"`);
    if (r.sourceSystem !== body.sourceSystem) {
      fail('registration-mismatch', `the registration names source system "${r.sourceSystem}", the anchor "${body.sourceSystem}"`);
    }
    if (!(pe.entry.height < h)) {
      fail('registration-mismatch', `the registration is at height ${pe.entry.height}, not before the filing at height ${h}`);
    }
    standing = 'registered';
    name = r.name;
    registration = { height: pe.entry.height, entryIndex: pe.entry.index, filer: r };
  }
  if (receipt.revocation !== null) {
    // 3. a revocation
    const pe = receipt.revocation;
    inclusionCode(anchor, header, pe, 'bad-revocation-proof', 'revocation');
    const g = governanceOf(anchor, pe, body, 'revocation-mismatch', 'revocation');
    const a = g.action;
    if (a.tag !== 2 && a.tag !== 3) fail('revocation-mismatch', `the revocation entry's action (tag ${a.tag}) revokes no filer`);
    const v = a.revocation;
    if (!keyEqual(v.key, body.filer)) fail('revocation-mismatch', `the revocation is of ${keyText(v.key)}, the anchor's filer is ${keyText(body.filer)}`);
    if (!(v.effectiveHeight > h)) {
      fail('filer-revoked', `the filer's key was revoked from height ${v.effectiveHeight} on ("${v.reason}"); the filing is at height ${h}`);
    }
    revocation = { height: pe.entry.height, entryIndex: pe.entry.index, filer: v };
  }
  return { standing, name, registration, revocation };
}

/**
 * §9.3 steps 1–8 against the genesis trust anchor, with the document's digest computed by the
 * caller with receiptDocumentAlgorithm's algorithm. Throws VerifyError with the first failing step's code.
 */
export function verifyReceipt(genesis: Genesis, receipt: Receipt, documentDigest: { algorithm: string; bytes: Uint8Array }): ReceiptVerdict {
  const anchor = genesis.anchor;
  const tag = anchor.digestTag;
  const { header, entry } = receipt;
  // 1. hand-offs and the checkpoint
  const cp = verifyCertifiedHeader(anchor, header, receipt.certificate, receipt.handoffs);
  // 2. the log size
  const proof = receipt.inclusionProof;
  if (proof.treeSize !== header.logSize) {
    fail('log-size-mismatch', `the inclusion proof is for a log of ${proof.treeSize} entries; the checkpoint's log has ${header.logSize}`);
  }
  // 3. the entry index
  if (proof.leafIndex !== entry.index) {
    fail('entry-index-mismatch', `the inclusion proof is for leaf ${proof.leafIndex}; the entry's index is ${entry.index}`);
  }
  // 4. the log root
  const root = rootFromInclusionProof(tag, leafHash(tag, entry.encoding), proof.leafIndex, proof.treeSize, proof.path);
  if (root === null) fail('bad-inclusion-proof', `the inclusion proof's path (${proof.path.length} hashes) has the wrong shape for leaf ${proof.leafIndex} of ${proof.treeSize}`);
  if (header.logRoot.tag !== tag || !bytesEqual(root, header.logRoot.bytes)) {
    fail('header-root-mismatch', "the entry and its inclusion proof do not lead to the checkpoint's log root");
  }
  // 5. an anchor of this chain, of this suite
  const rec = entry.record;
  if (rec.tag !== 1) {
    const what = rec.tag === 2 ? 'a revocation' : rec.tag === 3 ? 'a project registration' : 'a governance transaction';
    fail('not-an-anchor', `entry ${entry.index} is ${what}, not an anchored document`);
  }
  const { body, batchProof, signature } = rec.anchor;
  if (body.chainId !== anchor.chainId) fail('entry-wrong-chain', `the anchor names chain "${body.chainId}", not "${anchor.chainId}"`);
  if (body.filer.tag !== anchor.signatureTag || signature.tag !== anchor.signatureTag) {
    fail(
      'wrong-suite',
      `the filer key is ${signatureName(body.filer.tag)} and its signature ${signatureName(signature.tag)}; the suite's signature algorithm is ${signatureName(anchor.signatureTag)}`,
    );
  }
  // 6. the batch and the filer signature
  if (batchProof.treeSize < 1n || batchProof.treeSize > 65536n) {
    fail('bad-batch-length', `the batch length ${batchProof.treeSize} is not 1 to 65,536`);
  }
  const batchRoot = rootFromInclusionProof(tag, leafHash(tag, body.encoding), batchProof.leafIndex, batchProof.treeSize, batchProof.path);
  if (batchRoot === null) fail('bad-batch-proof', `the batch proof (${batchProof.path.length} hashes) has the wrong shape for position ${batchProof.leafIndex} of ${batchProof.treeSize}`);
  const signing = new Writer().text(ANCHOR_BATCH_PREFIX).u32(Number(batchProof.treeSize)).u8(tag).raw(batchRoot).finish();
  if (!verifySignature(body.filer, signature, signing)) {
    fail('bad-filer-signature', `the filer signature by ${keyText(body.filer)} does not verify over the batch root`);
  }
  // 7. the document digest, whole
  const dTag = digestTag(documentDigest.algorithm);
  if (dTag !== body.digest.tag || !bytesEqual(documentDigest.bytes, body.digest.bytes)) {
    const given: Digest | null = dTag === null ? null : { tag: dTag, bytes: documentDigest.bytes };
    fail('digest-mismatch', `the document's digest ${given === null ? `(${documentDigest.algorithm})` : digestText(given)} is not the anchored ${digestText(body.digest)}`);
  }
  // 8. the filer evidence
  const ev = verifyFilerEvidence(anchor, receipt, body);

  const memberName = anchor.memberNames.get(body.member) ?? null;
  const signers = cp.signers.map((k) => {
    const m = anchor.validatorMembers.get(keyId(k)) ?? null;
    return { key: keyText(k), member: m, name: m === null ? null : anchor.memberNames.get(m) ?? null };
  });
  const claim: ReceiptVerdict['claim'] =
    body.claim === null
      ? null
      : body.claim.type === 'inspection'
        ? { type: 'inspection', milestone: body.claim.milestone, passed: body.claim.passed }
        : { type: 'payment', milestone: body.claim.milestone, amountMinor: body.claim.amountMinor };
  const verdict: ReceiptVerdict = {
    digest: digestText(body.digest),
    kind: body.kind,
    projectId: body.projectId,
    documentId: body.documentId,
    documentVersion: body.documentVersion,
    supersedes: body.supersedes === null ? null : digestText(body.supersedes),
    claim,
    filer: keyText(body.filer),
    filerName: ev.name,
    filerStanding: ev.standing,
    member: body.member,
    memberName,
    sourceSystem: body.sourceSystem,
    capturedAtMs: Number(body.capturedAtMs),
    registration:
      ev.registration === null
        ? null
        : { height: Number(ev.registration.height), entryIndex: Number(ev.registration.entryIndex), name: ev.registration.filer.name },
    revocation:
      ev.revocation === null
        ? null
        : {
            effectiveHeight: Number(ev.revocation.filer.effectiveHeight),
            reason: ev.revocation.filer.reason,
            height: Number(ev.revocation.height),
            entryIndex: Number(ev.revocation.entryIndex),
          },
    entryIndex: Number(entry.index),
    sequencedHeight: Number(entry.height),
    sequencedAtMs: Number(entry.sequencedAtMs),
    checkpoint: {
      height: Number(header.height),
      timeMs: Number(header.timeMs),
      logSize: Number(header.logSize),
      signedPower: Number(cp.signedPower),
      totalPower: Number(cp.totalPower),
      signedPowerExact: cp.signedPower,
      totalPowerExact: cp.totalPower,
      signers,
    },
    handoffHeights: cp.handoffHeights.map(Number),
    validatorSet: digestText(cp.setHash),
    chainId: anchor.chainId,
    genesisHash: digestText(anchor.genesisHash),
    text: '',
  };
  verdict.text = receiptSentence(verdict);
  return verdict;
}

function receiptSentence(v: ReceiptVerdict): string {
  const who =
    v.filerStanding === 'genesis'
      ? `a genesis filer of ${v.member}${v.filerName === null ? '' : `, "${v.filerName}"`}`
      : `a filer of ${v.member}${v.filerName === null ? '' : `, "${v.filerName}"`}, registered at height ${v.registration!.height} (entry ${v.registration!.entryIndex})`;
  const revoked = v.revocation === null ? '' : `; its key was revoked from height ${v.revocation.effectiveHeight} on, after this filing ("${v.revocation.reason}")`;
  const handoffs = v.handoffHeights.length === 0 ? '' : `, after hand-offs at heights ${v.handoffHeights.join(', ')}`;
  return (
    `valid: ${v.digest} (${v.kind} ${v.documentId} version ${v.documentVersion} of project ${v.projectId}) ` +
    `anchored by ${v.filer} (${who}${revoked}) at log index ${v.entryIndex}, sequenced at height ${v.sequencedHeight}; ` +
    `checkpoint at height ${v.checkpoint.height} (log size ${v.checkpoint.logSize}) certified by voting power ` +
    `${v.checkpoint.signedPowerExact} of ${v.checkpoint.totalPowerExact}${handoffs}.`
  );
}

/** The document key 'd' || string member || string project_id || string document_id (§11.1). */
export function documentKeyOf(member: string, projectId: string, documentId: string): Uint8Array {
  return new Writer().u8(0x64).string(member).string(projectId).string(documentId).finish();
}

/** The version key 'v' || … || u32 version (§11.1). */
export function versionKeyOf(member: string, projectId: string, documentId: string, version: number): Uint8Array {
  return new Writer().u8(0x76).string(member).string(projectId).string(documentId).u32(version).finish();
}


/**
 * Status proofs (SPEC §8.3): reading (§9.6 step 0), verification (§9.6) and the status of a
 * receipt's document version (§9.7).
 */
import { toHex } from './bytes.js';
import { fail } from './errors.js';
import { digestEqual, digestText } from './hash.js';
import { verifyCertifiedHeader, type Handoff } from './checkpoint.js';
import type { Genesis } from './genesis.js';
import { documentKeyOf, versionKeyOf, type Receipt, type ReceiptVerdict } from './receipt.js';
import { verifyStateProof } from './statetree.js';
import {
  decodeCertificate,
  decodeDocumentRecord,
  decodeHeader,
  decodeProjectRecord,
  decodeStateKey,
  decodeStateProof,
  decodeVersionRecord,
  type BlockHeader,
  type CommitCertificate,
  type StateProof,
  type VersionRecord,
} from './structures.js';
import {
  decodeHandoffs,
  handoffsShape,
  hexField,
  parseTopObject,
  requireArray,
  requireFields,
  requireObject,
  requireString,
  requireVersion,
  shortNumber,
} from './files.js';

/** Facts per status proof: 1 to 64 (§8.3). */
export const FACTS_MAX = 64;

export interface StatusProofFact {
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
  readonly proof: StateProof;
}

/** A status-proof file, read and decoded (§9.6 step 0). */
export interface StatusProof {
  readonly handoffs: readonly Handoff[];
  readonly header: BlockHeader;
  readonly certificate: CommitCertificate;
  readonly facts: readonly StatusProofFact[];
}

/** §9.6 step 0 on a status-proof file's bytes or text. */
export function readStatusProof(file: string | Uint8Array): StatusProof {
  // The JSON and its shape [not-json].
  const top = parseTopObject(file);
  requireFields(top, 'the status proof', ['type', 'version', 'header', 'certificate', 'facts'], ['handoffs']);
  const type = requireString(top, 'type', 'the status proof');
  const version = requireVersion(top);
  const headerHex = requireString(top, 'header', 'the status proof');
  const certificateHex = requireString(top, 'certificate', 'the status proof');
  const handoffs = handoffsShape(top.fields.get('handoffs'));
  const factShapes = requireArray(top.fields.get('facts'), '"facts"').map((fj, i) => {
    const w = `facts[${i}]`;
    const o = requireObject(fj, w);
    requireFields(o, w, ['key', 'proof'], ['value']);
    return {
      key: requireString(o, 'key', w),
      value: o.fields.has('value') ? requireString(o, 'value', w) : null,
      proof: requireString(o, 'proof', w),
    };
  });
  // The type [wrong-file-type], the version [unsupported-version], hand-offs not empty [not-json].
  if (type !== 'evidence-status-proof') fail('wrong-file-type', `the type is "${type}", not "evidence-status-proof"`);
  if (version !== 1n) fail('unsupported-version', `status proof version ${shortNumber(version)} is not read (only 1)`);
  if (handoffs !== null && handoffs.length === 0) fail('not-json', '"handoffs" is empty');
  // The binary fields [bad-hex, malformed].
  const ho = decodeHandoffs(handoffs ?? []);
  const header = decodeHeader(hexField(headerHex, 'header'), 'header');
  const certificate = decodeCertificate(hexField(certificateHex, 'certificate'), 'certificate');
  // 1 to 64 facts [malformed], then each fact whole, one after the other: its key's hex, its
  // value's hex, its proof's hex and decoding, before the next fact (SPEC §9.6 step 0 lists the
  // fields, not whether all keys come first; read as §9.3 step 0 reads receipts, field by
  // field, as the Python spec-verifier does).
  if (factShapes.length < 1 || factShapes.length > FACTS_MAX) fail('malformed', `${factShapes.length} facts; a status proof carries 1 to ${FACTS_MAX}`);
  const facts = factShapes.map((s, i) => {
    const w = `facts[${i}]`;
    const key = hexField(s.key, `${w}.key`);
    const value = s.value === null ? null : hexField(s.value, `${w}.value`);
    const proof = decodeStateProof(hexField(s.proof, `${w}.proof`), `${w}.proof`);
    return { key, value, proof };
  });
  return { handoffs: ho, header, certificate, facts };
}

// ---------------------------------------------------------------- what facts show

/** A version's record, for display. */
export interface VersionInfo {
  digest: string;
  entryIndex: number;
  /** The height that anchored the version. */
  height: number;
  /** Its status in one word (§11.2): revoked if it has a revocation, else superseded, else current. */
  status: 'current' | 'superseded' | 'revoked';
  supersededBy: { version: number; digest: string; height: number } | null;
  revocation: { reason: string; entryIndex: number; height: number } | null;
}

/**
 * What one fact of a status proof shows, as of the certified header's height. Each carries
 * `text`, an English sentence saying it.
 */
export type StatusFact =
  | {
      kind: 'document';
      member: string;
      projectId: string;
      documentId: string;
      documentKind: string;
      /** The record's member field. */
      recordMember: string;
      latestVersion: number;
      passingMilestone: string | null;
      latest: VersionInfo;
      text: string;
    }
  | { kind: 'never-filed'; member: string; projectId: string; documentId: string; text: string }
  | { kind: 'version'; member: string; projectId: string; documentId: string; version: number; record: VersionInfo; text: string }
  /** A version key proved absent: no separate record of that version (it is the latest, or was never filed). */
  | { kind: 'version-absent'; member: string; projectId: string; documentId: string; version: number; text: string }
  | {
      kind: 'project';
      projectId: string;
      registrarMember: string;
      totalValueMinor: bigint;
      paidMinor: bigint;
      /** The contract value minus what was paid. */
      remainingMinor: bigint;
      milestones: { id: string; amountMinor: bigint; paidMinor: bigint; remainingMinor: bigint }[];
      text: string;
    }
  | { kind: 'project-absent'; projectId: string; text: string };

export interface StatusVerdict {
  /** The certified header's height and time. */
  height: number;
  atMs: number;
  signedPower: number;
  totalPower: number;
  signedPowerExact: bigint;
  totalPowerExact: bigint;
  handoffHeights: number[];
  /** Hash text of the set that certified the header. */
  validatorSet: string;
  stateRoot: string;
  chainId: string;
  genesisHash: string;
  /** With a receipt: the receipt's version's status, §9.7. */
  version: null | {
    status: 'current' | 'superseded' | 'revoked';
    supersededBy: { version: number; digest: string; height: number } | null;
    revocation: { height: number; reason: string } | null;
    member: string;
    projectId: string;
    documentId: string;
    documentVersion: number;
    digest: string;
    entryIndex: number;
  };
  /** What each fact shows, in the file's order. */
  facts: StatusFact[];
  /** One English sentence summarising the verdict. */
  text: string;
}

function versionInfo(v: VersionRecord): VersionInfo {
  const status = v.revocation !== null ? 'revoked' : v.supersededBy !== null ? 'superseded' : 'current';
  return {
    digest: digestText(v.digest),
    entryIndex: Number(v.entryIndex),
    height: Number(v.height),
    status,
    supersededBy:
      v.supersededBy === null
        ? null
        : { version: v.supersededBy.version, digest: digestText(v.supersededBy.digest), height: Number(v.supersededBy.height) },
    revocation:
      v.revocation === null
        ? null
        : { reason: v.revocation.reason, entryIndex: Number(v.revocation.entryIndex), height: Number(v.revocation.height) },
  };
}

function statusWords(v: { status: string; supersededBy: VersionInfo['supersededBy']; revocation: { reason: string; height: number } | null }, h: bigint): string {
  const sup = v.supersededBy === null ? '' : `superseded by version ${v.supersededBy.version} (${v.supersededBy.digest}) at height ${v.supersededBy.height}`;
  if (v.revocation !== null) {
    return `revoked at height ${v.revocation.height} ("${v.revocation.reason}")${sup === '' ? '' : `, and ${sup}`}`;
  }
  if (v.supersededBy !== null) return sup;
  return `current as of height ${h}`;
}

function documentName(member: string, projectId: string, documentId: string): string {
  return `document ${documentId} of member ${member} in project ${projectId}`;
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

function formatAmount(v: bigint): string {
  return v.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * §9.6, and §9.7 when a receipt and its verdict are given (the receipt verified by §9.3 against
 * the same genesis file). Throws VerifyError.
 */
export function verifyStatusProof(genesis: Genesis, proof: StatusProof, withReceipt?: { receipt: Receipt; verdict: ReceiptVerdict }): StatusVerdict {
  const anchor = genesis.anchor;
  const tag = anchor.digestTag;
  const header = proof.header;
  const h = header.height;
  // 1. hand-offs and the checkpoint
  const cp = verifyCertifiedHeader(anchor, header, proof.certificate, proof.handoffs);
  // 2. each fact
  const seen = new Set<string>();
  const facts: StatusFact[] = [];
  const documents = new Map<string, { value: Uint8Array | null; record: ReturnType<typeof decodeDocumentRecord> | null }>();
  const versions = new Map<string, VersionRecord | null>();
  proof.facts.forEach((f, i) => {
    const w = `fact ${i}`;
    // 2.1 the key
    const key = decodeStateKey(f.key, `${w}'s key`);
    const id = toHex(f.key);
    if (seen.has(id)) fail('malformed', `${w}'s key is the key of an earlier fact`);
    seen.add(id);
    // 2.2 the value
    let fact: StatusFact;
    if (key.type === 'document') {
      const name = documentName(key.member, key.projectId, key.documentId);
      if (f.value === null) {
        fact = { kind: 'never-filed', member: key.member, projectId: key.projectId, documentId: key.documentId, text: `Member ${key.member} filed no document ${key.documentId} in project ${key.projectId} as of height ${h}.` };
        documents.set(id, { value: null, record: null });
      } else {
        const rec = decodeDocumentRecord(f.value, `${w}'s value (a document record)`);
        const latest = versionInfo(rec.latest);
        fact = {
          kind: 'document',
          member: key.member,
          projectId: key.projectId,
          documentId: key.documentId,
          documentKind: rec.kind,
          recordMember: rec.member,
          latestVersion: rec.latestVersion,
          passingMilestone: rec.passingMilestone,
          latest,
          text:
            `The latest version of ${name} (${rec.kind}) is version ${rec.latestVersion}, ${latest.digest}, ` +
            `log entry ${latest.entryIndex} at height ${latest.height}: ${statusWords(latest, h)}` +
            `${rec.passingMilestone === null ? '' : `; it passes milestone ${rec.passingMilestone}`}.`,
        };
        documents.set(id, { value: f.value, record: rec });
      }
    } else if (key.type === 'version') {
      const name = documentName(key.member, key.projectId, key.documentId);
      if (f.value === null) {
        fact = {
          kind: 'version-absent', member: key.member, projectId: key.projectId, documentId: key.documentId, version: key.version,
          text: `As of height ${h} there is no separate record of version ${key.version} of ${name}: it is not a version that a later one replaced (the latest version's record is in the document record).`,
        };
        versions.set(id, null);
      } else {
        const rec = decodeVersionRecord(f.value, `${w}'s value (a version record)`);
        const info = versionInfo(rec);
        fact = {
          kind: 'version', member: key.member, projectId: key.projectId, documentId: key.documentId, version: key.version, record: info,
          text: `Version ${key.version} of ${name} is ${info.digest}, log entry ${info.entryIndex} at height ${info.height}: ${statusWords(info, h)}.`,
        };
        versions.set(id, rec);
      }
    } else {
      if (f.value === null) {
        fact = { kind: 'project-absent', projectId: key.projectId, text: `No project ${key.projectId} was registered as of height ${h}.` };
      } else {
        const rec = decodeProjectRecord(f.value, `${w}'s value (a project record)`);
        const milestones = rec.milestones.map((m) => ({ id: m.id, amountMinor: m.amountMinor, paidMinor: m.paidMinor, remainingMinor: m.amountMinor - m.paidMinor }));
        fact = {
          kind: 'project', projectId: key.projectId, registrarMember: rec.registrarMember, totalValueMinor: rec.totalValueMinor, paidMinor: rec.paidMinor,
          remainingMinor: rec.totalValueMinor - rec.paidMinor, milestones,
          text:
            `Project ${key.projectId}, registered by ${rec.registrarMember}: contract value ${formatAmount(rec.totalValueMinor)}, ` +
            `paid ${formatAmount(rec.paidMinor)} as of height ${h}` +
            (milestones.length === 0
              ? '.'
              : `; milestones: ${milestones.map((m) => `${m.id} ${formatAmount(m.amountMinor)} (paid ${formatAmount(m.paidMinor)}, ${formatAmount(m.remainingMinor)} left)`).join(', ')}.`),
        };
      }
    }
    // 2.3 the proof
    verifyStateProof(tag, f.key, f.value, f.proof, header.stateRoot, w);
    facts.push(fact);
  });

  const power = `certified by voting power ${cp.signedPower} of ${cp.totalPower}${cp.handoffHeights.length === 0 ? '' : ` after hand-offs at heights ${cp.handoffHeights.join(', ')}`}`;
  const verdict: StatusVerdict = {
    height: Number(h),
    atMs: Number(header.timeMs),
    signedPower: Number(cp.signedPower),
    totalPower: Number(cp.totalPower),
    signedPowerExact: cp.signedPower,
    totalPowerExact: cp.totalPower,
    handoffHeights: cp.handoffHeights.map(Number),
    validatorSet: digestText(cp.setHash),
    stateRoot: digestText(header.stateRoot),
    chainId: anchor.chainId,
    genesisHash: digestText(anchor.genesisHash),
    version: null,
    facts,
    text: `valid: ${facts.map((f) => lowerFirst(f.text.replace(/\.$/, ''))).join('; ')} — the state at height ${h}, ${power}.`,
  };
  if (withReceipt === undefined) return verdict;

  // §9.7 the status of the receipt's version. Where SPEC.md is silent, as the Python
  // spec-verifier chooses (tools/spec-verifier/README.md): the proof's height is not compared
  // with the receipt's; only the version record's digest and entry index are compared with the
  // receipt (not its height, nor the document record's kind or member); a receipt's version 0
  // is status-not-proved unless the document record's latest version is 0; facts are looked up
  // by key, in any order.
  const { receipt, verdict: rv } = withReceipt;
  if (rv.genesisHash !== digestText(anchor.genesisHash)) {
    fail('wrong-chain', 'the receipt was verified against another genesis file than the status proof');
  }
  const rec = receipt.entry.record;
  if (rec.tag !== 1) fail('not-an-anchor', "the receipt's entry is not an anchored document");
  const body = rec.anchor.body;
  const n = body.documentVersion;
  const name = documentName(body.member, body.projectId, body.documentId);
  // 1. the version's record
  const doc = documents.get(toHex(documentKeyOf(body.member, body.projectId, body.documentId)));
  if (doc === undefined) fail('status-not-proved', `the proof has no fact about ${name}`);
  if (doc.record === null) fail('status-not-proved', `by the proof, ${name} was not filed as of height ${h}`);
  const latest = doc.record.latestVersion;
  let vr: VersionRecord;
  if (n === latest) {
    vr = doc.record.latest;
  } else if (n >= 1 && n < latest) {
    const v = versions.get(toHex(versionKeyOf(body.member, body.projectId, body.documentId, n)));
    if (v === undefined) fail('status-not-proved', `the proof has no fact about version ${n} of ${name}, whose latest version is ${latest}`);
    if (v === null) fail('status-not-proved', `by the proof, version ${n} of ${name} has no record of its own as of height ${h}`);
    vr = v;
  } else {
    fail('status-not-proved', `version ${n} of ${name} was not filed as of height ${h} (the latest is ${latest})`);
  }
  // 2. the record is the receipt's version
  if (!digestEqual(vr.digest, body.digest)) {
    fail('status-mismatch', `the record of version ${n} names digest ${digestText(vr.digest)}; the receipt's is ${digestText(body.digest)}`);
  }
  if (vr.entryIndex !== receipt.entry.index) {
    fail('status-mismatch', `the record of version ${n} names log entry ${vr.entryIndex}; the receipt's is ${receipt.entry.index}`);
  }
  // 3. the status
  const info = versionInfo(vr);
  verdict.version = {
    status: info.status,
    supersededBy: info.supersededBy,
    revocation: info.revocation === null ? null : { height: info.revocation.height, reason: info.revocation.reason },
    member: body.member,
    projectId: body.projectId,
    documentId: body.documentId,
    documentVersion: n,
    digest: digestText(body.digest),
    entryIndex: Number(receipt.entry.index),
  };
  verdict.text = `valid: version ${n} of ${name} (${digestText(body.digest)}, log entry ${receipt.entry.index}) is ${statusWords(info, h)}; the state at height ${h}, ${power}.`;
  return verdict;
}

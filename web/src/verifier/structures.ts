/**
 * Decoders of the binary structures a receipt or a status proof carries (SPEC §3, §4.1, §6,
 * §11.5, §12.4, §13). Every one is strict (§2): unknown tags and versions, over-long fields,
 * non-canonical keys and trailing bytes are `malformed`.
 */
import { Reader, ID_LEN_MAX } from './encoding.js';
import { digestName, type Digest } from './hash.js';
import { decodeKeyBytes, keyLength, signatureName, type PublicKey, type Signature } from './keys.js';
import { compareBytes } from './bytes.js';

/** A reason of a revocation, a filer revocation, a summary: at most 4096 bytes (§6.4, §6.7). */
export const TEXT_LEN_MAX = 4096;
/** Inclusion and consistency paths: at most 64 hashes (§12.4). */
export const PATH_MAX = 64;
/** Validator sets: 1 to 256 validators, total power at most ⌊(2^64 − 1)/3⌋ (§13.2). */
export const VALIDATORS_MAX = 256;
export const TOTAL_POWER_MAX = (2n ** 64n - 1n) / 3n;

// ---------------------------------------------------------------- primitives

export function readDigest(r: Reader, field: string): Digest {
  const tag = r.u8(field);
  if (digestName(tag) === null) r.err(`${field}: unknown digest algorithm tag ${tag}`);
  return { tag, bytes: r.raw(32, field) };
}

export function readPublicKey(r: Reader, field: string): PublicKey {
  const tag = r.u8(field);
  const len = keyLength(tag);
  if (len === null) r.err(`${field}: unknown signature algorithm tag ${tag}`);
  const bytes = r.raw(len, field);
  const key = decodeKeyBytes(tag, bytes);
  if (key === null) {
    r.err(`${field}: the ${signatureName(tag)} key is not the canonical encoding of a curve point (§4.1)`);
  }
  return key;
}

export function readSignature(r: Reader, field: string): Signature {
  const tag = r.u8(field);
  if (signatureName(tag) === null) r.err(`${field}: unknown signature algorithm tag ${tag}`);
  return { tag, bytes: r.raw(64, field) };
}

// ---------------------------------------------------------------- §12.4 inclusion proof

export interface InclusionProof {
  readonly leafIndex: bigint;
  readonly treeSize: bigint;
  readonly path: Uint8Array[];
}

export function readInclusionProof(r: Reader, field: string): InclusionProof {
  const leafIndex = r.u64(`${field}.leaf_index`);
  const treeSize = r.u64(`${field}.tree_size`);
  const n = r.count(`${field}.path`, PATH_MAX);
  const path: Uint8Array[] = [];
  for (let i = 0; i < n; i++) path.push(r.raw(32, `${field}.path[${i}]`));
  return { leafIndex, treeSize, path };
}

export function decodeInclusionProof(bytes: Uint8Array, what: string): InclusionProof {
  const r = new Reader(bytes, what);
  const p = readInclusionProof(r, 'inclusion proof');
  r.end();
  return p;
}

// ---------------------------------------------------------------- §6.1 anchor body

export type MilestoneClaim =
  | { readonly type: 'inspection'; readonly milestone: string; readonly passed: boolean }
  | { readonly type: 'payment'; readonly milestone: string; readonly amountMinor: bigint };

export interface AnchorBody {
  /** enc(body), the batch leaf data. */
  readonly encoding: Uint8Array;
  readonly chainId: string;
  readonly filer: PublicKey;
  readonly member: string;
  readonly sourceSystem: string;
  readonly capturedAtMs: bigint;
  readonly projectId: string;
  readonly documentId: string;
  readonly documentVersion: number;
  readonly kind: string;
  readonly digest: Digest;
  readonly supersedes: Digest | null;
  readonly claim: MilestoneClaim | null;
}

function readClaim(r: Reader): MilestoneClaim {
  const tag = r.u8('claim tag');
  if (tag === 1) return { type: 'inspection', milestone: r.id('claim.milestone'), passed: r.bool('claim.passed') };
  if (tag === 2) return { type: 'payment', milestone: r.id('claim.milestone'), amountMinor: r.u64('claim.amount_minor') };
  return r.err(`unknown milestone claim tag ${tag}`);
}

export function readAnchorBody(r: Reader): AnchorBody {
  const start = r.offset;
  r.version(1, 'anchor body version');
  const chainId = r.id('body.chain_id');
  const filer = readPublicKey(r, 'body.filer');
  const member = r.id('body.member');
  const sourceSystem = r.id('body.source_system');
  const capturedAtMs = r.u64('body.captured_at_ms');
  const projectId = r.id('body.project_id');
  const documentId = r.id('body.document_id');
  const documentVersion = r.u32('body.document_version');
  const kind = r.id('body.kind');
  const digest = readDigest(r, 'body.digest');
  const supersedes = r.option('body.supersedes', (rr) => readDigest(rr, 'body.supersedes'));
  const claim = r.option('body.claim', readClaim);
  return {
    encoding: r.since(start),
    chainId, filer, member, sourceSystem, capturedAtMs, projectId, documentId, documentVersion, kind, digest, supersedes, claim,
  };
}

// ---------------------------------------------------------------- §6.3–§6.7 records

export interface AnchoredDocument {
  readonly body: AnchorBody;
  readonly batchProof: InclusionProof;
  readonly signature: Signature;
}

export interface FilerRegistration {
  readonly name: string;
  readonly key: PublicKey;
  readonly kinds: string[];
  readonly sourceSystem: string;
}

export interface FilerRevocation {
  readonly key: PublicKey;
  readonly reason: string;
  readonly effectiveHeight: bigint;
}

export type GovernanceAction =
  | { readonly tag: 1; readonly registration: FilerRegistration }
  | { readonly tag: 2; readonly revocation: FilerRevocation }
  | { readonly tag: 3; readonly revocation: FilerRevocation; readonly registration: FilerRegistration }
  | { readonly tag: 4; readonly proposalId: string; readonly expiresAtMs: bigint; readonly summary: string; readonly changeCount: number }
  | { readonly tag: 5; readonly proposalId: string; readonly approve: boolean };

export interface GovernanceTransaction {
  /** enc(body), what the governance key signed after the GOVERNANCE prefix. */
  readonly bodyEncoding: Uint8Array;
  readonly chainId: string;
  readonly member: string;
  readonly signer: PublicKey;
  readonly issuedAtMs: bigint;
  readonly action: GovernanceAction;
  readonly signature: Signature;
}

export type LedgerRecord =
  | { readonly tag: 1; readonly anchor: AnchoredDocument }
  | { readonly tag: 2 } // a signed revocation (§6.4): decoded, not needed further
  | { readonly tag: 3 } // a signed project registration (§6.5)
  | { readonly tag: 4; readonly governance: GovernanceTransaction };

function readSignedRevocation(r: Reader): void {
  r.version(1, 'revocation version');
  r.id('revocation.chain_id');
  readPublicKey(r, 'revocation.filer');
  r.id('revocation.member');
  r.id('revocation.project_id');
  r.id('revocation.document_id');
  r.u32('revocation.document_version');
  readDigest(r, 'revocation.digest');
  r.string('revocation.reason', TEXT_LEN_MAX);
  r.u64('revocation.revoked_at_ms');
  readSignature(r, 'revocation.signature');
}

function readSignedRegistration(r: Reader): void {
  r.version(1, 'project registration version');
  r.id('registration.chain_id');
  readPublicKey(r, 'registration.registrar');
  r.id('registration.member');
  r.id('registration.project_id');
  r.u64('registration.total_value_minor');
  r.seq('registration.milestones', 256, (rr, i) => {
    rr.id(`registration.milestones[${i}].id`);
    rr.u64(`registration.milestones[${i}].amount_minor`);
  });
  r.u64('registration.registered_at_ms');
  readSignature(r, 'registration.signature');
}

function readFilerRegistration(r: Reader, field: string): FilerRegistration {
  const name = r.id(`${field}.name`);
  const key = readPublicKey(r, `${field}.public_key`);
  const kinds = r.seq(`${field}.kinds`, 64, (rr, i) => rr.id(`${field}.kinds[${i}]`));
  const sourceSystem = r.id(`${field}.source_system`);
  return { name, key, kinds, sourceSystem };
}

function readFilerRevocation(r: Reader, field: string): FilerRevocation {
  const key = readPublicKey(r, `${field}.public_key`);
  const reason = r.string(`${field}.reason`, TEXT_LEN_MAX);
  const effectiveHeight = r.u64(`${field}.effective_height`);
  return { key, reason, effectiveHeight };
}

/** A change of a proposal (§6.7): tags 1 to 12, decoded for their lengths and tags only. */
function readChange(r: Reader, i: number): void {
  const f = `change[${i}]`;
  const tag = r.u8(`${f} tag`);
  switch (tag) {
    case 1: // add a member
      r.id(`${f}.id`);
      r.id(`${f}.name`);
      r.bytes(`${f}.tls_ca`, 8192);
      r.seq(`${f}.governance_keys`, 16, (rr, j) => readPublicKey(rr, `${f}.governance_keys[${j}]`));
      return;
    case 2: // remove a member
      r.id(`${f}.id`);
      return;
    case 3: // set a member's governance keys
      r.id(`${f}.member`);
      r.seq(`${f}.keys`, 16, (rr, j) => readPublicKey(rr, `${f}.keys[${j}]`));
      return;
    case 4: // set the threshold
      r.u32(`${f}.numerator`);
      r.u32(`${f}.denominator`);
      return;
    case 5: // add a kind or replace its policy
      r.id(`${f}.kind`);
      r.string(`${f}.description`, 256);
      r.seq(`${f}.members`, 256, (rr, j) => rr.id(`${f}.members[${j}]`));
      return;
    case 6: // remove a kind
      r.id(`${f}.kind`);
      return;
    case 7: // set the project registrars
      r.seq(`${f}.registrars`, 256, (rr, j) => rr.id(`${f}.registrars[${j}]`));
      return;
    case 8: // set the limits
      r.u32(`${f}.batch_len_max`);
      r.u32(`${f}.transaction_bytes_max`);
      return;
    case 9: // add a validator
      r.id(`${f}.member`);
      readPublicKey(r, `${f}.public_key`);
      r.u64(`${f}.voting_power`);
      r.option(`${f}.address`, (rr) => rr.string(`${f}.address`, 256));
      return;
    case 10: // remove a validator
      readPublicKey(r, `${f}.public_key`);
      return;
    case 11: // replace a validator's key
      readPublicKey(r, `${f}.public_key`);
      readPublicKey(r, `${f}.new_public_key`);
      r.option(`${f}.address`, (rr) => rr.string(`${f}.address`, 256));
      return;
    case 12: // set a validator's voting power
      readPublicKey(r, `${f}.public_key`);
      r.u64(`${f}.voting_power`);
      return;
    default:
      r.err(`${f}: unknown change tag ${tag}`);
  }
}

function readGovernanceAction(r: Reader): GovernanceAction {
  const tag = r.u8('governance action tag');
  switch (tag) {
    case 1:
      return { tag: 1, registration: readFilerRegistration(r, 'registration') };
    case 2:
      return { tag: 2, revocation: readFilerRevocation(r, 'revocation') };
    case 3: {
      const revocation = readFilerRevocation(r, 'rotation.revocation');
      const registration = readFilerRegistration(r, 'rotation.registration');
      return { tag: 3, revocation, registration };
    }
    case 4: {
      const proposalId = r.id('proposal.proposal_id');
      const expiresAtMs = r.u64('proposal.expires_at_ms');
      const summary = r.string('proposal.summary', TEXT_LEN_MAX);
      const changes = r.seq('proposal.changes', 32, readChange);
      return { tag: 4, proposalId, expiresAtMs, summary, changeCount: changes.length };
    }
    case 5:
      return { tag: 5, proposalId: r.id('vote.proposal_id'), approve: r.bool('vote.approve') };
    default:
      return r.err(`unknown governance action tag ${tag}`);
  }
}

function readGovernance(r: Reader): GovernanceTransaction {
  const start = r.offset;
  r.version(1, 'governance body version');
  const chainId = r.id('governance.chain_id');
  const member = r.id('governance.member');
  const signer = readPublicKey(r, 'governance.signer');
  const issuedAtMs = r.u64('governance.issued_at_ms');
  const action = readGovernanceAction(r);
  const bodyEncoding = r.since(start);
  const signature = readSignature(r, 'governance.signature');
  return { bodyEncoding, chainId, member, signer, issuedAtMs, action, signature };
}

function readRecord(r: Reader): LedgerRecord {
  const tag = r.u8('record tag');
  switch (tag) {
    case 1: {
      const body = readAnchorBody(r);
      const batchProof = readInclusionProof(r, 'batch_proof');
      const signature = readSignature(r, 'filer signature');
      return { tag: 1, anchor: { body, batchProof, signature } };
    }
    case 2:
      readSignedRevocation(r);
      return { tag: 2 };
    case 3:
      readSignedRegistration(r);
      return { tag: 3 };
    case 4:
      return { tag: 4, governance: readGovernance(r) };
    default:
      return r.err(`unknown record tag ${tag}`);
  }
}

// ---------------------------------------------------------------- §6.6 entry

export interface Entry {
  /** enc(entry), the log leaf data. */
  readonly encoding: Uint8Array;
  readonly index: bigint;
  readonly height: bigint;
  readonly sequencedAtMs: bigint;
  readonly record: LedgerRecord;
}

export function decodeEntry(bytes: Uint8Array, what: string): Entry {
  const r = new Reader(bytes, what);
  r.version(1, 'entry version');
  const index = r.u64('entry.index');
  const height = r.u64('entry.height');
  const sequencedAtMs = r.u64('entry.sequenced_at_ms');
  const record = readRecord(r);
  r.end();
  return { encoding: bytes, index, height, sequencedAtMs, record };
}

// ---------------------------------------------------------------- §13.1 header

export interface BlockHeader {
  readonly encoding: Uint8Array;
  readonly chainId: string;
  readonly genesisHash: Digest;
  readonly height: bigint;
  readonly timeMs: bigint;
  readonly parentHash: Digest;
  readonly transactionsRoot: Digest;
  readonly transactionCount: number;
  readonly logSize: bigint;
  readonly logRoot: Digest;
  readonly stateRoot: Digest;
  readonly validatorSetHash: Digest;
  readonly nextValidatorSetHash: Digest;
  readonly proposer: PublicKey;
}

export function decodeHeader(bytes: Uint8Array, what: string): BlockHeader {
  const r = new Reader(bytes, what);
  r.version(3, 'header version');
  const h: BlockHeader = {
    encoding: bytes,
    chainId: r.id('header.chain_id'),
    genesisHash: readDigest(r, 'header.genesis_hash'),
    height: r.u64('header.height'),
    timeMs: r.u64('header.time_ms'),
    parentHash: readDigest(r, 'header.parent_hash'),
    transactionsRoot: readDigest(r, 'header.transactions_root'),
    transactionCount: r.u32('header.transaction_count'),
    logSize: r.u64('header.log_size'),
    logRoot: readDigest(r, 'header.log_root'),
    stateRoot: readDigest(r, 'header.state_root'),
    validatorSetHash: readDigest(r, 'header.validator_set_hash'),
    nextValidatorSetHash: readDigest(r, 'header.next_validator_set_hash'),
    proposer: readPublicKey(r, 'header.proposer'),
  };
  r.end();
  return h;
}

// ---------------------------------------------------------------- §13.3 certificate

export interface CommitCertificate {
  readonly height: bigint;
  readonly round: number;
  readonly blockHash: Digest;
  readonly signatures: { readonly validator: PublicKey; readonly signature: Signature }[];
}

export function decodeCertificate(bytes: Uint8Array, what: string): CommitCertificate {
  const r = new Reader(bytes, what);
  r.version(1, 'certificate version');
  const height = r.u64('certificate.height');
  const round = r.u32('certificate.round');
  const blockHash = readDigest(r, 'certificate.block_hash');
  const signatures = r.seq('certificate.signatures', 256, (rr, i) => ({
    validator: readPublicKey(rr, `certificate.signatures[${i}].validator`),
    signature: readSignature(rr, `certificate.signatures[${i}].signature`),
  }));
  r.end();
  return { height, round, blockHash, signatures };
}

// ---------------------------------------------------------------- §13.2 validator set

export interface Validator {
  readonly key: PublicKey;
  readonly power: bigint;
}

export interface ValidatorSet {
  /** enc(set). */
  readonly encoding: Uint8Array;
  readonly validators: Validator[];
  readonly totalPower: bigint;
}

/** Decodes a validator set by the rules of §13.2: 1 to 256, sorted, distinct, powers ≥ 1, bounded total. */
export function decodeValidatorSet(bytes: Uint8Array, what: string): ValidatorSet {
  const r = new Reader(bytes, what);
  const validators = r.seq('validators', VALIDATORS_MAX, (rr, i) => ({
    key: readPublicKey(rr, `validators[${i}].public_key`),
    power: rr.u64(`validators[${i}].voting_power`),
  }));
  r.end();
  if (validators.length === 0) r.err('a validator set has at least one validator');
  let total = 0n;
  for (let i = 0; i < validators.length; i++) {
    const v = validators[i]!;
    if (v.power === 0n) r.err(`validators[${i}]: voting power 0`);
    total += v.power;
    if (i > 0) {
      const c = compareBytes(validators[i - 1]!.key.encoding, v.key.encoding);
      if (c === 0) r.err(`validators[${i}]: a key twice`);
      if (c > 0) r.err(`validators[${i}]: not in ascending order of the keys' encodings`);
    }
  }
  if (total > TOTAL_POWER_MAX) r.err('total voting power above ⌊(2^64 − 1)/3⌋');
  return { encoding: bytes, validators, totalPower: total };
}

// ---------------------------------------------------------------- §11.5 state proof

export interface StateProof {
  readonly leaf: { readonly keyHash: Uint8Array; readonly valueHash: Uint8Array } | null;
  /** From the lowest (deepest) to the root's child. */
  readonly siblings: Uint8Array[];
}

export function decodeStateProof(bytes: Uint8Array, what: string): StateProof {
  const r = new Reader(bytes, what);
  const tag = r.u8('leaf_tag');
  let leaf: StateProof['leaf'] = null;
  if (tag === 1) leaf = { keyHash: r.raw(32, 'leaf_key_hash'), valueHash: r.raw(32, 'leaf_value_hash') };
  else if (tag !== 0) r.err(`leaf tag ${tag} is neither 0 nor 1`);
  const n = r.count('siblings', 256);
  const siblings: Uint8Array[] = [];
  for (let i = 0; i < n; i++) siblings.push(r.raw(32, `siblings[${i}]`));
  r.end();
  return { leaf, siblings };
}

// ---------------------------------------------------------------- §11.1 state keys, §11.2 records

export type StateKey =
  | { readonly type: 'document'; readonly member: string; readonly projectId: string; readonly documentId: string }
  | { readonly type: 'version'; readonly member: string; readonly projectId: string; readonly documentId: string; readonly version: number }
  | { readonly type: 'project'; readonly projectId: string };

/**
 * A fact's key (§9.6 step 2.1): a document, version or project key, nothing after its last part.
 * A version key's `u32 version` may be any value, 0 included, and identifiers may be empty;
 * only their length (at most 256 bytes) and UTF-8 are checked (the Python spec-verifier's
 * choice, tools/spec-verifier/README.md).
 */
export function decodeStateKey(bytes: Uint8Array, what: string): StateKey {
  const r = new Reader(bytes, what);
  const tag = r.u8('key tag');
  let key: StateKey;
  if (tag === 0x64) {
    key = { type: 'document', member: r.id('member'), projectId: r.id('project_id'), documentId: r.id('document_id') };
  } else if (tag === 0x76) {
    key = { type: 'version', member: r.id('member'), projectId: r.id('project_id'), documentId: r.id('document_id'), version: r.u32('version') };
  } else if (tag === 0x70) {
    key = { type: 'project', projectId: r.id('project_id') };
  } else {
    return r.err(`key tag 0x${tag.toString(16).padStart(2, '0')} is none of 'd', 'v', 'p'`);
  }
  r.end();
  return key;
}

// SPEC §11.2 states no bounds on the records' strings and lists beyond §1 and §6. As the Python
// spec-verifier chooses (tools/spec-verifier/README.md): identifiers (kind, member, milestone
// ids, registrar) are strings of at most 256 bytes (§1), a revocation's reason at most 4096
// bytes (§6.4), a project's milestones at most 256 (§6.5); above that a value is malformed.
// A version record under a 'v' key is not required to carry its `superseded_by`.
export interface VersionRecord {
  readonly digest: Digest;
  readonly entryIndex: bigint;
  readonly height: bigint;
  readonly supersededBy: { readonly version: number; readonly digest: Digest; readonly height: bigint } | null;
  readonly revocation: { readonly reason: string; readonly entryIndex: bigint; readonly height: bigint } | null;
}

function readVersionRecord(r: Reader): VersionRecord {
  const digest = readDigest(r, 'digest');
  const entryIndex = r.u64('entry_index');
  const height = r.u64('height');
  const supersededBy = r.option('superseded_by', (rr) => ({
    version: rr.u32('superseded_by.version'),
    digest: readDigest(rr, 'superseded_by.digest'),
    height: rr.u64('superseded_by.height'),
  }));
  const revocation = r.option('revocation', (rr) => ({
    reason: rr.string('revocation.reason', TEXT_LEN_MAX),
    entryIndex: rr.u64('revocation.revocation_entry_index'),
    height: rr.u64('revocation.height'),
  }));
  return { digest, entryIndex, height, supersededBy, revocation };
}

export interface DocumentRecord {
  readonly kind: string;
  readonly member: string;
  readonly latestVersion: number;
  readonly passingMilestone: string | null;
  readonly latest: VersionRecord;
}

export interface ProjectRecord {
  readonly registrarMember: string;
  readonly totalValueMinor: bigint;
  readonly paidMinor: bigint;
  readonly milestones: { readonly id: string; readonly amountMinor: bigint; readonly paidMinor: bigint }[];
}

export function decodeDocumentRecord(bytes: Uint8Array, what: string): DocumentRecord {
  const r = new Reader(bytes, what);
  const kind = r.id('kind');
  const member = r.id('member');
  const latestVersion = r.u32('latest_version');
  const passingMilestone = r.option('passing_milestone', (rr) => rr.id('passing_milestone'));
  const latest = readVersionRecord(r);
  r.end();
  return { kind, member, latestVersion, passingMilestone, latest };
}

export function decodeVersionRecord(bytes: Uint8Array, what: string): VersionRecord {
  const r = new Reader(bytes, what);
  const v = readVersionRecord(r);
  r.end();
  return v;
}

export function decodeProjectRecord(bytes: Uint8Array, what: string): ProjectRecord {
  const r = new Reader(bytes, what);
  const registrarMember = r.id('registrar_member');
  const totalValueMinor = r.u64('total_value_minor');
  const paidMinor = r.u64('paid_minor');
  const milestones = r.seq('milestones', 256, (rr, i) => ({
    id: rr.id(`milestones[${i}].id`),
    amountMinor: rr.u64(`milestones[${i}].amount_minor`),
    paidMinor: rr.u64(`milestones[${i}].paid_minor`),
  }));
  r.end();
  return { registrarMember, totalValueMinor, paidMinor, milestones };
}

export { ID_LEN_MAX };

/**
 * The genesis file (SPEC §10): reading, validation (§10.3), the genesis hash (§10.2) and the
 * trust anchor a verifier takes from it (§9.1).
 */
import { bytesEqual, compareBytes, fromHex, hasLoneSurrogate, utf8 } from './bytes.js';
import { Writer } from './encoding.js';
import { fail, VerifyError } from './errors.js';
import { digestTag, digestText, hashWith, type Digest } from './hash.js';
import { decodeEd25519Point } from './ed25519.js';
import { fieldProblem, isIntegerLiteral, jsonText, JsonError, parseJson, type Json } from './json.js';
import { keyId, keyIsSmallOrder, keyText, parseKeyText, SIG_SM2, signatureTag, type PublicKey } from './keys.js';
import { TOTAL_POWER_MAX, type ValidatorSet } from './structures.js';

export const GENESIS_PREFIX = 'evidence/v1/genesis\n';
export const VALIDATOR_SET_PREFIX = 'evidence/v1/validator-set\n';

/** What a verifier trusts (§9.1), taken from the genesis file. */
export interface TrustAnchor {
  readonly chainId: string;
  readonly genesisHash: Digest;
  /** suite.digest's tag: the chain's hash algorithm. */
  readonly digestTag: number;
  /** suite.signature's tag. */
  readonly signatureTag: number;
  /** Genesis's validator set, sorted by the keys' encodings (§13.2). */
  readonly validatorSet: ValidatorSet;
  /** VS = H("evidence/v1/validator-set\n" || enc(set)). */
  readonly validatorSetHash: Digest;
  /** The genesis filers (§9.5). */
  readonly filers: readonly { readonly key: PublicKey; readonly member: string; readonly name: string }[];
  /** Display names: member id → name. */
  readonly memberNames: ReadonlyMap<string, string>;
  /** Genesis validators by keyId: their member. */
  readonly validatorMembers: ReadonlyMap<string, string>;
}

export interface Genesis {
  chainId: string;
  /** Text form, e.g. "blake3:…" (§10.2). */
  genesisHash: string;
  suite: { digest: string; signature: string };
  genesisTimeMs: number;
  members: { id: string; name: string; governanceKeys: string[] }[];
  filers: { key: string; member: string; name: string; kinds: string[] }[];
  validators: { key: string; power: bigint; member: string; name?: string; address: string | null }[];
  /** Text form of genesis's validator-set hash (§9.1). */
  validatorSetHash: string;
  policy: {
    kinds: { kind: string; description: string; members: string[] }[];
    projectRegistrars: string[];
    batchLenMax: number;
    transactionBytesMax: number;
  };
  governanceThreshold: { numerator: number; denominator: number };
  /** The trust anchor (§9.1), for the verification functions. */
  readonly anchor: TrustAnchor;
}

function bad(detail: string): never {
  fail('invalid-genesis', detail);
}

type JObject = Json & { t: 'object' };

function asObject(j: Json | undefined, where: string): JObject {
  if (j === undefined) bad(`${where} is missing`);
  if (j.t !== 'object') bad(`${where} is not a JSON object`);
  return j;
}

function exactFields(o: JObject, where: string, required: string[], optional: string[] = []): void {
  const p = fieldProblem(o, required, optional);
  if (p !== null) bad(`${where}: ${p}`);
}

function asString(j: Json | undefined, where: string): string {
  if (j === undefined) bad(`${where} is missing`);
  if (j.t !== 'string') bad(`${where} is not a string`);
  if (hasLoneSurrogate(j.v)) bad(`${where} is not valid Unicode`);
  return j.v;
}

function asArray(j: Json | undefined, where: string): readonly Json[] {
  if (j === undefined) bad(`${where} is missing`);
  if (j.t !== 'array') bad(`${where} is not a JSON array`);
  return j.items;
}

const U64_MAX = 2n ** 64n - 1n;

/** A JSON integer literal from 0 to 2^64 − 1 (§10.1). */
function asU64(j: Json | undefined, where: string): bigint {
  if (j === undefined) bad(`${where} is missing`);
  if (j.t !== 'number' || !isIntegerLiteral(j.raw)) bad(`${where} is not a JSON integer literal`);
  const v = BigInt(j.raw);
  if (v < 0n || v > U64_MAX) bad(`${where} is not from 0 to 2^64 − 1`);
  return v;
}

/** chain_id, member ids, kinds: 1–64 characters of a-z, 0-9, '-', '_', '.' (§10.3). */
const NAME_RE = /^[a-z0-9._-]{1,64}$/;

// Characters with the Unicode White_Space property.
const WHITE_SPACE = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005,
  0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

function onlyWhiteSpace(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!WHITE_SPACE.has(s.charCodeAt(i))) return false;
  return true;
}

/** Member names and filer names: 1–256 bytes and not only white space (§10.3). */
function checkDisplayName(s: string, where: string): void {
  const n = utf8(s).length;
  if (n < 1 || n > 256) bad(`${where} is ${n} bytes, not 1 to 256`);
  if (onlyWhiteSpace(s)) bad(`${where} is only white space`);
}

// ---------------------------------------------------------------- base58btc and peer ids (§4.4)

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

export function base58Encode(bytes: Uint8Array): string {
  let zeros = 0;
  while (zeros < bytes.length && bytes[zeros] === 0) zeros++;
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let s = '';
  while (n > 0n) {
    s = B58[Number(n % 58n)]! + s;
    n /= 58n;
  }
  return '1'.repeat(zeros) + s;
}

export function base58Decode(text: string): Uint8Array | null {
  let zeros = 0;
  while (zeros < text.length && text[zeros] === '1') zeros++;
  let n = 0n;
  for (let i = zeros; i < text.length; i++) {
    const d = B58.indexOf(text[i]!);
    if (d < 0) return null;
    n = n * 58n + BigInt(d);
  }
  const body: number[] = [];
  while (n > 0n) {
    body.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  const out = new Uint8Array(zeros + body.length);
  out.set(body, zeros);
  return out;
}

const PEER_ID_PREFIX = new Uint8Array([0x00, 0x24, 0x08, 0x01, 0x12, 0x20]);

/** The libp2p peer id of an Ed25519 public key: base58btc of 00 24 08 01 12 20 || A (§4.4). */
export function peerIdOfEd25519(a: Uint8Array): string {
  const b = new Uint8Array(38);
  b.set(PEER_ID_PREFIX);
  b.set(a, 6);
  return base58Encode(b);
}

/** The text after the last `/p2p/` of an address, or null when it has none. */
function pinnedPeerId(address: string): string | null {
  const i = address.lastIndexOf('/p2p/');
  return i < 0 ? null : address.slice(i + 5);
}

/** True when `text` is the peer id of an Ed25519 key that decodes by §4.1. */
function isEd25519PeerId(text: string): boolean {
  const b = base58Decode(text);
  if (b === null || b.length !== 38) return false;
  if (!bytesEqual(b.subarray(0, 6), PEER_ID_PREFIX)) return false;
  if (base58Encode(b) !== text) return false;
  return decodeEd25519Point(b.subarray(6)) !== null;
}

// ---------------------------------------------------------------- the validator set (§13.2, §9.1)

/** The validator set of (key, power) pairs, sorted by the keys' encodings, and its encoding. */
export function makeValidatorSet(pairs: readonly { key: PublicKey; power: bigint }[]): ValidatorSet {
  const sorted = [...pairs].sort((a, b) => compareBytes(a.key.encoding, b.key.encoding));
  const w = new Writer().u32(sorted.length);
  let total = 0n;
  for (const v of sorted) {
    w.raw(v.key.encoding).u64(v.power);
    total += v.power;
  }
  return { encoding: w.finish(), validators: sorted.map((v) => ({ key: v.key, power: v.power })), totalPower: total };
}

/** H("evidence/v1/validator-set\n" || enc(set)) with the chain's algorithm. */
export function validatorSetHash(tag: number, set: ValidatorSet): Digest {
  return { tag, bytes: hashWith(tag, utf8(VALIDATOR_SET_PREFIX), set.encoding) };
}

// ---------------------------------------------------------------- reading

/** Reads and validates a genesis file (§10, version 3 only); throws VerifyError("invalid-genesis", …). */
export function readGenesis(file: string | Uint8Array): Genesis {
  let root: Json;
  try {
    root = parseJson(jsonText(file));
  } catch (e) {
    if (e instanceof JsonError) bad(`not JSON: ${e.message}`);
    throw e;
  }
  try {
    return readGenesisJson(root);
  } catch (e) {
    if (e instanceof VerifyError) throw e;
    throw new VerifyError('invalid-genesis', String(e instanceof Error ? e.message : e));
  }
}

function readGenesisJson(root: Json): Genesis {
  const top = asObject(root, 'the file');
  exactFields(top, 'the file', [
    'type', 'version', 'chain_id', 'genesis_time_ms', 'suite', 'members', 'validators', 'filers', 'policy', 'governance',
  ]);
  if (asString(top.fields.get('type'), 'type') !== 'evidence-genesis') bad('type is not "evidence-genesis"');
  const version = asU64(top.fields.get('version'), 'version');
  if (version !== 3n) bad(`version ${version} is not read (only version 3)`);
  const chainId = asString(top.fields.get('chain_id'), 'chain_id');
  if (!NAME_RE.test(chainId)) bad('chain_id is not 1–64 characters of a-z, 0-9, -, _, .');
  const genesisTimeMs = asU64(top.fields.get('genesis_time_ms'), 'genesis_time_ms');

  // suite
  const suite = asObject(top.fields.get('suite'), 'suite');
  exactFields(suite, 'suite', ['digest', 'signature']);
  const digestName = asString(suite.fields.get('digest'), 'suite.digest');
  const signatureName = asString(suite.fields.get('signature'), 'suite.signature');
  const dTag = digestTag(digestName);
  const sTag = signatureTag(signatureName);
  if (dTag === null) bad(`suite.digest "${digestName}" is none of blake3, sha256, sm3`);
  if (sTag === null) bad(`suite.signature "${signatureName}" is none of ed25519, sm2`);
  if (sTag === SIG_SM2 && digestName !== 'sm3') bad('suite: SM2 goes with SM3 only');

  const seenKeys = new Set<string>();
  const key = (j: Json | undefined, where: string): PublicKey => {
    const text = asString(j, where);
    const k = parseKeyText(text);
    if (typeof k === 'string') bad(`${where}: ${k}`);
    if (k.tag !== sTag) bad(`${where} is not a key of suite.signature (${signatureName})`);
    if (keyIsSmallOrder(k)) bad(`${where} is of small order`);
    const id = keyId(k);
    if (seenKeys.has(id)) bad(`${where}: the key ${keyText(k)} appears twice in the file`);
    seenKeys.add(id);
    return k;
  };

  // members
  const membersJ = asArray(top.fields.get('members'), 'members');
  if (membersJ.length === 0) bad('there is no member');
  const members: { id: string; name: string; tlsCa: Uint8Array; keys: PublicKey[] }[] = [];
  const memberIds = new Set<string>();
  membersJ.forEach((mj, i) => {
    const w = `members[${i}]`;
    const m = asObject(mj, w);
    exactFields(m, w, ['id', 'name', 'tls_ca', 'governance_keys']);
    const id = asString(m.fields.get('id'), `${w}.id`);
    if (!NAME_RE.test(id)) bad(`${w}.id is not 1–64 characters of a-z, 0-9, -, _, .`);
    if (memberIds.has(id)) bad(`member id "${id}" appears twice`);
    memberIds.add(id);
    const name = asString(m.fields.get('name'), `${w}.name`);
    checkDisplayName(name, `${w}.name`);
    const caHex = asString(m.fields.get('tls_ca'), `${w}.tls_ca`);
    if (!/^(?:[0-9a-f]{2})*$/.test(caHex)) bad(`${w}.tls_ca is not lower-case hex`);
    const tlsCa = fromHex(caHex)!;
    if (tlsCa.length < 1 || tlsCa.length > 8192) bad(`${w}.tls_ca is not 1 to 8192 bytes`);
    const keysJ = asArray(m.fields.get('governance_keys'), `${w}.governance_keys`);
    if (keysJ.length < 1 || keysJ.length > 16) bad(`${w} has ${keysJ.length} governance keys, not 1 to 16`);
    const keys = keysJ.map((kj, j) => key(kj, `${w}.governance_keys[${j}]`));
    members.push({ id, name, tlsCa, keys });
  });
  const memberRef = (id: string, where: string): void => {
    if (!memberIds.has(id)) bad(`${where} names no member ("${id}")`);
  };

  // validators
  const validatorsJ = asArray(top.fields.get('validators'), 'validators');
  if (validatorsJ.length === 0) bad('there is no validator');
  if (validatorsJ.length > 256) bad('more than 256 validators');
  const validators: { member: string; key: PublicKey; power: bigint; address: string | null }[] = [];
  const peerIds = new Set<string>();
  let totalPower = 0n;
  validatorsJ.forEach((vj, i) => {
    const w = `validators[${i}]`;
    const v = asObject(vj, w);
    exactFields(v, w, ['member', 'public_key', 'voting_power'], ['address']);
    const member = asString(v.fields.get('member'), `${w}.member`);
    memberRef(member, `${w}.member`);
    const k = key(v.fields.get('public_key'), `${w}.public_key`);
    const power = asU64(v.fields.get('voting_power'), `${w}.voting_power`);
    if (power < 1n) bad(`${w}.voting_power is 0`);
    totalPower += power;
    const addressJ = v.fields.get('address');
    let address: string | null = null;
    if (addressJ !== undefined) {
      address = asString(addressJ, `${w}.address`);
      const n = utf8(address).length;
      if (n < 1 || n > 256) bad(`${w}.address is ${n} bytes, not 1 to 256`);
    }
    // Peer ids (§10.3, §4.4): an SM2 validator's address pins the peer id of an Ed25519 key;
    // an Ed25519 validator's address pins no peer id but its own key's.
    let peerId: string;
    if (k.tag === SIG_SM2) {
      const pinned = address === null ? null : pinnedPeerId(address);
      if (pinned === null) bad(`${w}: an SM2 validator's address must end with /p2p/<peer id>`);
      if (!isEd25519PeerId(pinned)) bad(`${w}.address pins "${pinned}", not the peer id of an Ed25519 key`);
      peerId = pinned;
    } else {
      peerId = peerIdOfEd25519(k.bytes);
      const pinned = address === null ? null : pinnedPeerId(address);
      if (pinned !== null && pinned !== peerId) bad(`${w}.address pins a peer id other than its key's (${peerId})`);
    }
    if (peerIds.has(peerId)) bad(`${w}: another validator has the peer id ${peerId}`);
    peerIds.add(peerId);
    validators.push({ member, key: k, power, address });
  });
  if (totalPower > TOTAL_POWER_MAX) bad('total voting power above ⌊(2^64 − 1)/3⌋');

  // policy (read before the filers, whose kinds it governs)
  const policy = asObject(top.fields.get('policy'), 'policy');
  exactFields(policy, 'policy', ['kinds', 'project_registrars', 'limits']);
  const kindsJ = asArray(policy.fields.get('kinds'), 'policy.kinds');
  const kinds: { kind: string; description: string; members: string[] }[] = [];
  const kindNames = new Map<string, string[]>();
  kindsJ.forEach((kj, i) => {
    const w = `policy.kinds[${i}]`;
    const k = asObject(kj, w);
    exactFields(k, w, ['kind', 'members'], ['description']);
    const kind = asString(k.fields.get('kind'), `${w}.kind`);
    if (!NAME_RE.test(kind)) bad(`${w}.kind is not 1–64 characters of a-z, 0-9, -, _, .`);
    if (kindNames.has(kind)) bad(`policy kind "${kind}" appears twice`);
    const dj = k.fields.get('description');
    const description = dj === undefined ? '' : asString(dj, `${w}.description`);
    const ms = asArray(k.fields.get('members'), `${w}.members`).map((mj, j) => asString(mj, `${w}.members[${j}]`));
    const seen = new Set<string>();
    ms.forEach((m, j) => {
      memberRef(m, `${w}.members[${j}]`);
      if (seen.has(m)) bad(`${w}.members names "${m}" twice`);
      seen.add(m);
    });
    kindNames.set(kind, ms);
    kinds.push({ kind, description, members: ms });
  });
  const registrars = asArray(policy.fields.get('project_registrars'), 'policy.project_registrars').map((rj, i) =>
    asString(rj, `policy.project_registrars[${i}]`),
  );
  {
    const seen = new Set<string>();
    registrars.forEach((r, i) => {
      memberRef(r, `policy.project_registrars[${i}]`);
      if (seen.has(r)) bad(`policy.project_registrars names "${r}" twice`);
      seen.add(r);
    });
  }
  const limits = asObject(policy.fields.get('limits'), 'policy.limits');
  exactFields(limits, 'policy.limits', ['batch_len_max', 'transaction_bytes_max']);
  const batchLenMax = asU64(limits.fields.get('batch_len_max'), 'policy.limits.batch_len_max');
  const txBytesMax = asU64(limits.fields.get('transaction_bytes_max'), 'policy.limits.transaction_bytes_max');
  if (batchLenMax < 1n || batchLenMax > 65536n) bad('policy.limits.batch_len_max is not 1 to 65536');
  if (txBytesMax < 1024n || txBytesMax > 67108864n) bad('policy.limits.transaction_bytes_max is not 1024 to 67108864');

  // filers
  const filersJ = asArray(top.fields.get('filers'), 'filers');
  const filers: { name: string; member: string; key: PublicKey; kinds: string[] }[] = [];
  filersJ.forEach((fj, i) => {
    const w = `filers[${i}]`;
    const f = asObject(fj, w);
    exactFields(f, w, ['name', 'member', 'public_key', 'kinds']);
    const name = asString(f.fields.get('name'), `${w}.name`);
    checkDisplayName(name, `${w}.name`);
    const member = asString(f.fields.get('member'), `${w}.member`);
    memberRef(member, `${w}.member`);
    const k = key(f.fields.get('public_key'), `${w}.public_key`);
    const fk = asArray(f.fields.get('kinds'), `${w}.kinds`).map((kj, j) => asString(kj, `${w}.kinds[${j}]`));
    const seen = new Set<string>();
    fk.forEach((kind, j) => {
      if (seen.has(kind)) bad(`${w}.kinds names "${kind}" twice`);
      seen.add(kind);
      const allowed = kindNames.get(kind);
      if (allowed === undefined) bad(`${w}.kinds[${j}] "${kind}" is not a policy kind`);
      if (!allowed.includes(member)) bad(`${w}.kinds[${j}]: policy kind "${kind}" does not allow member "${member}"`);
    });
    filers.push({ name, member, key: k, kinds: fk });
  });

  // governance
  const governance = asObject(top.fields.get('governance'), 'governance');
  exactFields(governance, 'governance', ['threshold']);
  const threshold = asObject(governance.fields.get('threshold'), 'governance.threshold');
  exactFields(threshold, 'governance.threshold', ['numerator', 'denominator']);
  const num = asU64(threshold.fields.get('numerator'), 'governance.threshold.numerator');
  const den = asU64(threshold.fields.get('denominator'), 'governance.threshold.denominator');
  if (!(den >= 1n && den <= 1000n && den <= 2n * num && 2n * num < 2n * den)) {
    bad('governance.threshold is not a fraction from one half up to, not including, one, with denominator 1 to 1000');
  }

  // §10.2 the genesis hash
  const w = new Writer();
  w.string('evidence-genesis').u32(3).string(chainId).u64(genesisTimeMs).u8(dTag).u8(sTag);
  w.u32(members.length);
  for (const m of members) {
    w.string(m.id).string(m.name).bytes(m.tlsCa).u32(m.keys.length);
    for (const k of m.keys) w.raw(k.encoding);
  }
  w.u32(validators.length);
  for (const v of validators) {
    w.string(v.member).raw(v.key.encoding).u64(v.power);
    if (v.address === null) w.u8(0);
    else w.u8(1).string(v.address);
  }
  w.u32(filers.length);
  for (const f of filers) {
    w.string(f.name).string(f.member).raw(f.key.encoding).u32(f.kinds.length);
    for (const k of f.kinds) w.string(k);
  }
  w.u32(kinds.length);
  for (const k of kinds) {
    w.string(k.kind).string(k.description).u32(k.members.length);
    for (const m of k.members) w.string(m);
  }
  w.u32(registrars.length);
  for (const r of registrars) w.string(r);
  w.u32(Number(batchLenMax)).u32(Number(txBytesMax)).u32(Number(num)).u32(Number(den));
  const genesisHash: Digest = { tag: dTag, bytes: hashWith(dTag, utf8(GENESIS_PREFIX), w.finish()) };

  // §9.1 the trust anchor
  const set = makeValidatorSet(validators.map((v) => ({ key: v.key, power: v.power })));
  const vsHash = validatorSetHash(dTag, set);
  const memberNames = new Map(members.map((m) => [m.id, m.name] as const));
  const anchor: TrustAnchor = {
    chainId,
    genesisHash,
    digestTag: dTag,
    signatureTag: sTag,
    validatorSet: set,
    validatorSetHash: vsHash,
    filers: filers.map((f) => ({ key: f.key, member: f.member, name: f.name })),
    memberNames,
    validatorMembers: new Map(validators.map((v) => [keyId(v.key), v.member] as const)),
  };

  return {
    chainId,
    genesisHash: digestText(genesisHash),
    suite: { digest: digestName, signature: signatureName },
    genesisTimeMs: Number(genesisTimeMs),
    members: members.map((m) => ({ id: m.id, name: m.name, governanceKeys: m.keys.map(keyText) })),
    filers: filers.map((f) => ({ key: keyText(f.key), member: f.member, name: f.name, kinds: f.kinds })),
    validators: validators.map((v) => ({
      key: keyText(v.key),
      power: v.power,
      member: v.member,
      name: memberNames.get(v.member),
      address: v.address,
    })),
    validatorSetHash: digestText(vsHash),
    policy: { kinds, projectRegistrars: registrars, batchLenMax: Number(batchLenMax), transactionBytesMax: Number(txBytesMax) },
    governanceThreshold: { numerator: Number(num), denominator: Number(den) },
    anchor,
  };
}


/**
 * Checkpoint verification (SPEC §9.2) and hand-offs (§9.4).
 */
import { utf8 } from './bytes.js';
import { Writer } from './encoding.js';
import { fail, VerifyError } from './errors.js';
import { digestEqual, digestName, digestText, hashWith, type Digest } from './hash.js';
import { keyEqual, keyId, keyText, signatureName, verifySignature, type PublicKey } from './keys.js';
import { validatorSetHash, type TrustAnchor } from './genesis.js';
import type { BlockHeader, CommitCertificate, ValidatorSet } from './structures.js';

export const BLOCK_HEADER_PREFIX = 'evidence/v1/block-header\n';
export const VOTE_PREFIX = 'evidence/v1/vote\n';
const PRECOMMIT = 2;

/** A hand-off as read from a file (§8.1). */
export interface Handoff {
  readonly header: BlockHeader;
  readonly certificate: CommitCertificate;
  readonly validators: ValidatorSet;
}

export interface CheckpointResult {
  readonly signedPower: bigint;
  readonly totalPower: bigint;
  readonly signers: readonly PublicKey[];
}

/** vote_signing_bytes(chain_id, kind, height, round, block_hash) (§13.3). */
export function voteSigningBytes(chainId: string, kind: number, height: bigint, round: number, blockHash: Digest | null): Uint8Array {
  const w = new Writer().text(VOTE_PREFIX).u8(kind).string(chainId).u64(height).u32(round);
  if (blockHash === null) w.u8(0);
  else w.u8(1).u8(blockHash.tag).raw(blockHash.bytes);
  return w.finish();
}

/** The header hash H("evidence/v1/block-header\n" || enc(h)), tagged with the chain's algorithm (§13.1). */
export function headerHash(tag: number, h: BlockHeader): Digest {
  return { tag, bytes: hashWith(tag, utf8(BLOCK_HEADER_PREFIX), h.encoding) };
}

/**
 * §9.2 steps 1–5: header `h` and certificate `c` against validator set `set`, whose hash is `vs`.
 * Throws VerifyError with the first failing step's code.
 */
export function verifyCheckpoint(anchor: TrustAnchor, h: BlockHeader, c: CommitCertificate, set: ValidatorSet, vs: Digest): CheckpointResult {
  // 1. the suite, then the chain
  if (h.genesisHash.tag !== anchor.digestTag || h.proposer.tag !== anchor.signatureTag) {
    fail(
      'wrong-suite',
      `the header at height ${h.height} is of the suite ${digestName(h.genesisHash.tag)}/${signatureName(h.proposer.tag)}, ` +
        `the genesis file's is ${digestName(anchor.digestTag)}/${signatureName(anchor.signatureTag)}`,
    );
  }
  if (h.chainId !== anchor.chainId) {
    fail('wrong-chain', `the header names chain "${h.chainId}", the genesis file "${anchor.chainId}"`);
  }
  if (!digestEqual(h.genesisHash, anchor.genesisHash)) {
    fail('wrong-chain', `the header names genesis hash ${digestText(h.genesisHash)}, the genesis file's is ${digestText(anchor.genesisHash)}`);
  }
  // 2. the validator set
  if (!digestEqual(h.validatorSetHash, vs)) {
    fail('unknown-validator-set', `the header at height ${h.height} names validator set ${digestText(h.validatorSetHash)}, not ${digestText(vs)}`);
  }
  // 3. the certificate is for this block
  const hh = headerHash(anchor.digestTag, h);
  if (c.height !== h.height || !digestEqual(c.blockHash, hh)) {
    fail('certificate-for-other-block', `the certificate is for height ${c.height}, block ${digestText(c.blockHash)}; the header is height ${h.height}, block ${digestText(hh)}`);
  }
  // 4. each signature
  const vote = voteSigningBytes(h.chainId, PRECOMMIT, c.height, c.round, c.blockHash);
  const seen = new Set<string>();
  const signers: PublicKey[] = [];
  let signed = 0n;
  c.signatures.forEach(({ validator, signature }, i) => {
    const member = set.validators.find((v) => keyEqual(v.key, validator));
    if (member === undefined) fail('unknown-signer', `signature ${i} is by ${keyText(validator)}, not a validator of the set`);
    const id = keyId(validator);
    if (seen.has(id)) fail('duplicate-signer', `signature ${i} is by ${keyText(validator)}, who signed earlier in the certificate`);
    seen.add(id);
    if (!verifySignature(validator, signature, vote)) {
      fail('bad-validator-signature', `signature ${i}, by ${keyText(validator)}, does not verify over the precommit for height ${c.height}`);
    }
    signed += member.power;
    signers.push(validator);
  });
  // 5. a quorum
  if (!(3n * signed > 2n * set.totalPower)) {
    fail('insufficient-power', `the signers hold voting power ${signed} of ${set.totalPower}, not more than two thirds`);
  }
  return { signedPower: signed, totalPower: set.totalPower, signers };
}

export interface HandoffResult {
  /** The set the hand-offs lead to, and its hash. */
  readonly set: ValidatorSet;
  readonly setHash: Digest;
  /** The height of the last hand-off (0 when there are none). */
  readonly lastHeight: bigint;
  readonly heights: bigint[];
}

/** §9.4: follows hand-offs from genesis's set. Throws VerifyError with the first failing check's code. */
export function followHandoffs(anchor: TrustAnchor, handoffs: readonly Handoff[]): HandoffResult {
  let set = anchor.validatorSet;
  let setHash = anchor.validatorSetHash;
  let last = 0n;
  const heights: bigint[] = [];
  handoffs.forEach((ho, i) => {
    // 1. its checkpoint verifies against S
    try {
      verifyCheckpoint(anchor, ho.header, ho.certificate, set, setHash);
    } catch (e) {
      if (e instanceof VerifyError) {
        fail('bad-handoff', `hand-off ${i} (height ${ho.header.height}): [${e.code}] ${e.detail}`);
      }
      throw e;
    }
    // 2. its height is above L
    if (!(ho.header.height > last)) {
      fail('handoff-out-of-order', `hand-off ${i} is at height ${ho.header.height}, not above ${last}`);
    }
    // 3. its set is the one the header names as next
    const next = validatorSetHash(anchor.digestTag, ho.validators);
    if (!digestEqual(next, ho.header.nextValidatorSetHash)) {
      fail('handoff-set-mismatch', `hand-off ${i} carries validator set ${digestText(next)}; its header names ${digestText(ho.header.nextValidatorSetHash)} as next`);
    }
    // 4. it is a change
    if (digestEqual(next, ho.header.validatorSetHash)) {
      fail('handoff-not-a-change', `hand-off ${i} (height ${ho.header.height}) hands the set ${digestText(next)} to itself`);
    }
    set = ho.validators;
    setHash = next;
    last = ho.header.height;
    heights.push(last);
  });
  return { set, setHash, lastHeight: last, heights };
}

/**
 * §9.3 step 1 and §9.6 step 1: follow the hand-offs, verify the checkpoint against the set they
 * lead to, and check that it comes after the last hand-off.
 */
export function verifyCertifiedHeader(anchor: TrustAnchor, header: BlockHeader, certificate: CommitCertificate, handoffs: readonly Handoff[]) {
  const ho = followHandoffs(anchor, handoffs);
  const cp = verifyCheckpoint(anchor, header, certificate, ho.set, ho.setHash);
  if (!(header.height > ho.lastHeight)) {
    fail(
      'checkpoint-before-handoff',
      ho.heights.length === 0
        ? `the checkpoint is at height ${header.height}; heights start at 1`
        : `the checkpoint is at height ${header.height}, not after the last hand-off at height ${ho.lastHeight}`,
    );
  }
  return { ...cp, handoffHeights: ho.heights, setHash: ho.setHash };
}

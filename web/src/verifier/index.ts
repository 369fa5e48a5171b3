/**
 * An independent verifier of the evidence ledger's receipts and status proofs, written from
 * SPEC.md (version 11) alone. Runs in browsers, Web Workers and Node: no Node APIs.
 *
 * Modules: encoding (§2), hash and sm3 (§3), keys, ed25519 and sm2 (§4), genesis (§10, §9.1),
 * structures (the binary formats of §6, §11, §12.4, §13), merkle (§12), checkpoint (§9.2,
 * §9.4), receipt (§8.1, §9.3, §9.5), statetree (§11.3, §11.5), status (§8.3, §9.6, §9.7),
 * json and files (the strict JSON of §8), selftest (the primitives against published examples).
 *
 * Where SPEC.md leaves a choice open, this implementation takes the one the Python
 * spec-verifier documents (tools/spec-verifier/README.md), and otherwise:
 * - JSON (§8): a field given twice is refused in any object of the file, nested ones included;
 *   nesting deeper than 128 levels is not-json; `\u` escapes of lone surrogates are accepted
 *   (they can only make a string unequal to what is expected, or bad hex).
 * - Genesis (§10): `-0` is read as the integer 0; a string holding a lone surrogate (which has
 *   no UTF-8 form for the genesis hash) is refused; `filers` and `policy.kinds` must be present
 *   and may be empty; an Ed25519 validator without an address takes part in the peer-id
 *   uniqueness rule with the peer id derived from its key.
 * - The caller's document digest (§9.3 step 7) with an algorithm name of no §3 algorithm is
 *   digest-mismatch.
 * - verifyStatusProof with a receipt verdict reached under another genesis file is wrong-chain.
 * - A verdict's signer that is no genesis validator (one a hand-off brought in) has member and
 *   name null: a validator set carries keys and powers only.
 */
export { VerifyError } from './errors.js';
export { newHasher, digestName, digestTag, type Hasher, type Digest } from './hash.js';
export { readGenesis, type Genesis, type TrustAnchor } from './genesis.js';
export { readReceipt, receiptDocumentAlgorithm, receiptAnchoredDigest, verifyReceipt, type Receipt, type ReceiptVerdict } from './receipt.js';
export {
  readStatusProof,
  verifyStatusProof,
  type StatusProof,
  type StatusVerdict,
  type StatusFact,
  type VersionInfo,
} from './status.js';

// Primitives, exported for self-tests (and for a page that wants to show them).
export { sm3, Sm3 } from './sm3.js';
export { verifyEd25519, decodeEd25519Point, ED25519_L } from './ed25519.js';
export {
  verifySm2,
  decodeSm2Point,
  encodeSm2Point,
  sm2PublicKeyOfSecret,
  SM2_N,
  SM2_DEFAULT_USER_ID,
} from './sm2.js';
export { stateTreeRoot, buildStateProof, verifyStateProof, PLACEHOLDER } from './statetree.js';
export { toHex, fromHex } from './bytes.js';
export { selfTest, type SelfTestResult } from './selftest.js';

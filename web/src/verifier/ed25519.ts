/**
 * Ed25519 (SPEC §4.1, §4.2), verified strictly.
 *
 * noble's `ed25519.verify` is not used: it checks the cofactored equation and treats small-order
 * keys differently. Only noble's point arithmetic is used: strict RFC 8032 §5.1.3 decoding
 * (`fromBytes(…, zip215 = false)`: y < p, not x = 0 with the sign bit set, y of a curve point),
 * scalar multiplication and the canonical encoding.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import type { EdwardsPoint } from '@noble/curves/abstract/edwards.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesEqual, bytesToBigLE, concatBytes } from './bytes.js';

const Point = ed25519.Point;

/** The group order ℓ = 2^252 + 27742317777372353535851937790883648493. */
export const ED25519_L = 2n ** 252n + 27742317777372353535851937790883648493n;

export type Ed25519Point = EdwardsPoint;

/**
 * Decodes 32 bytes as a point by RFC 8032 §5.1.3, strictly (§4.1): y < p, not x = 0 with the
 * sign bit set, and y of a curve point. Returns null for any other bytes. Small-order points decode.
 */
export function decodeEd25519Point(bytes: Uint8Array): Ed25519Point | null {
  if (bytes.length !== 32) return null;
  try {
    return Point.fromBytes(bytes, false);
  } catch {
    return null;
  }
}

/** True when [8]P is the identity. */
export function isSmallOrder(p: Ed25519Point): boolean {
  return p.clearCofactor().is0();
}

/**
 * The verification rule of §4.2 for Ed25519: signature (R, S) on `message` by key `A`
 * (`aBytes`, already decoded to `a`):
 * 1. S < ℓ;
 * 2. A and R decode (R strictly too), and neither is of small order;
 * 3. k = SHA-512(R || A || M) mod ℓ, and [S]B − [k]A encodes canonically to the 32 bytes R as given.
 */
export function verifyEd25519(a: Ed25519Point, aBytes: Uint8Array, signature: Uint8Array, message: Uint8Array): boolean {
  if (signature.length !== 64 || aBytes.length !== 32) return false;
  const rBytes = signature.subarray(0, 32);
  const s = bytesToBigLE(signature.subarray(32, 64));
  if (s >= ED25519_L) return false; // step 1
  const r = decodeEd25519Point(rBytes); // step 2
  if (r === null) return false;
  if (isSmallOrder(a) || isSmallOrder(r)) return false;
  const k = bytesToBigLE(sha512(concatBytes(rBytes, aBytes, message))) % ED25519_L; // step 3
  const rPrime = Point.BASE.multiplyUnsafe(s).subtract(a.multiplyUnsafe(k));
  return bytesEqual(rPrime.toBytes(), rBytes);
}

/** RFC 8032 public key of a 32-byte seed (used by the self-test only). */
export function ed25519PublicKeyOfSeed(seed: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(seed);
}

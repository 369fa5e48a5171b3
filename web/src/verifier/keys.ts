/**
 * Public keys and signatures (SPEC §4.1, §4.2): tag 1 Ed25519 (32-byte keys), tag 2 SM2
 * (33-byte compressed keys); signatures are 64 bytes under either tag.
 */
import { concatBytes, fromHex, toHex } from './bytes.js';
import { decodeEd25519Point, isSmallOrder, verifyEd25519, type Ed25519Point } from './ed25519.js';
import { decodeSm2Point, verifySm2, type Sm2Point } from './sm2.js';

export const SIG_ED25519 = 1;
export const SIG_SM2 = 2;

export function signatureName(tag: number): string | null {
  return tag === SIG_ED25519 ? 'ed25519' : tag === SIG_SM2 ? 'sm2' : null;
}

export function signatureTag(name: string): number | null {
  return name === 'ed25519' ? SIG_ED25519 : name === 'sm2' ? SIG_SM2 : null;
}

/** The key length of a signature algorithm tag, or null for an unknown tag. */
export function keyLength(tag: number): number | null {
  return tag === SIG_ED25519 ? 32 : tag === SIG_SM2 ? 33 : null;
}

/** A decoded public key: its tag, its bytes, its encoding (tag || bytes) and its point. */
export type PublicKey =
  | { readonly tag: 1; readonly bytes: Uint8Array; readonly encoding: Uint8Array; readonly point: Ed25519Point }
  | { readonly tag: 2; readonly bytes: Uint8Array; readonly encoding: Uint8Array; readonly point: Sm2Point };

export interface Signature {
  readonly tag: number;
  readonly bytes: Uint8Array; // 64
}

/**
 * Decodes a key's bytes under its tag (§4.1); null when they are no key: a canonical Ed25519
 * point, or a compressed SM2 point. The caller checked the tag and the length.
 */
export function decodeKeyBytes(tag: number, bytes: Uint8Array): PublicKey | null {
  const encoding = concatBytes(new Uint8Array([tag]), bytes);
  const copy = encoding.subarray(1);
  if (tag === SIG_ED25519) {
    const point = decodeEd25519Point(copy);
    return point === null ? null : { tag: 1, bytes: copy, encoding, point };
  }
  if (tag === SIG_SM2) {
    const point = decodeSm2Point(copy);
    return point === null ? null : { tag: 2, bytes: copy, encoding, point };
  }
  return null;
}

/** The text form `ed25519:hex` / `sm2:hex` (lower case). */
export function keyText(k: PublicKey): string {
  return `${signatureName(k.tag)}:${toHex(k.bytes)}`;
}

/** The text form of a signature. */
export function signatureText(s: Signature): string {
  return `${signatureName(s.tag) ?? `tag${s.tag}`}:${toHex(s.bytes)}`;
}

/** Keys compare by tag and bytes. */
export function keyEqual(a: PublicKey, b: PublicKey): boolean {
  if (a.tag !== b.tag || a.bytes.length !== b.bytes.length) return false;
  for (let i = 0; i < a.bytes.length; i++) if (a.bytes[i] !== b.bytes[i]) return false;
  return true;
}

/** A map key for a public key (its encoding in hex). */
export function keyId(k: PublicKey): string {
  return toHex(k.encoding);
}

/**
 * Parses the text form of a key (§4.1): `ed25519:` and 64 hex digits, or `sm2:` and 66; hex of
 * either case. Returns a reason string when it is no key.
 */
export function parseKeyText(text: string): PublicKey | string {
  const colon = text.indexOf(':');
  if (colon < 0) return `"${text}" is not a key in text form (name:hex)`;
  const tag = signatureTag(text.slice(0, colon));
  if (tag === null) return `"${text.slice(0, colon)}" is no signature algorithm (ed25519 or sm2)`;
  const len = keyLength(tag)!;
  const hex = text.slice(colon + 1);
  const bytes = fromHex(hex);
  if (bytes === null || bytes.length !== len) return `a ${text.slice(0, colon)} key is ${2 * len} hex digits`;
  const key = decodeKeyBytes(tag, bytes);
  if (key === null) return `${text} is not the canonical encoding of a curve point`;
  return key;
}

/** True when the key is of small order (an Ed25519 key with [8]A the identity; no SM2 key is). */
export function keyIsSmallOrder(k: PublicKey): boolean {
  return k.tag === SIG_ED25519 ? isSmallOrder(k.point) : false;
}

/**
 * Verifies strictly (§4.2): by the rule of the key's algorithm; a signature whose tag differs
 * from its key's fails whatever its bytes.
 */
export function verifySignature(key: PublicKey, sig: Signature, message: Uint8Array): boolean {
  if (sig.tag !== key.tag) return false;
  if (key.tag === SIG_ED25519) return verifyEd25519(key.point, key.bytes, sig.bytes, message);
  return verifySm2(key.point, sig.bytes, message);
}

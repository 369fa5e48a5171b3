/**
 * Digests (SPEC §3): tag 1 BLAKE3, 2 SHA-256, 3 SM3, each 32 bytes; the text form `name:hex`.
 */
import { blake3 } from '@noble/hashes/blake3.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from './bytes.js';
import { Sm3 } from './sm3.js';

export const DIGEST_BLAKE3 = 1;
export const DIGEST_SHA256 = 2;
export const DIGEST_SM3 = 3;

const NAMES: Record<number, string> = { 1: 'blake3', 2: 'sha256', 3: 'sm3' };

/** The §3 text name of a digest tag, or null for a tag §3 does not define. */
export function digestName(tag: number): string | null {
  return NAMES[tag] ?? null;
}

/** The §3 tag of a text name ("blake3", "sha256", "sm3"), or null. */
export function digestTag(name: string): number | null {
  switch (name) {
    case 'blake3':
      return DIGEST_BLAKE3;
    case 'sha256':
      return DIGEST_SHA256;
    case 'sm3':
      return DIGEST_SM3;
    default:
      return null;
  }
}

/** A digest: algorithm tag and 32 bytes. */
export interface Digest {
  readonly tag: number;
  readonly bytes: Uint8Array;
}

/** The text form `name:hex` (§3). */
export function digestText(d: Digest): string {
  return `${digestName(d.tag) ?? `tag${d.tag}`}:${toHex(d.bytes)}`;
}

export function digestEqual(a: Digest, b: Digest): boolean {
  if (a.tag !== b.tag || a.bytes.length !== b.bytes.length) return false;
  for (let i = 0; i < a.bytes.length; i++) if (a.bytes[i] !== b.bytes[i]) return false;
  return true;
}

/** A streaming hasher: update with bytes, then digest once (32 bytes). */
export interface Hasher {
  update(bytes: Uint8Array): void;
  digest(): Uint8Array;
}

function hasherForTag(tag: number): Hasher | null {
  switch (tag) {
    case DIGEST_BLAKE3: {
      const h = blake3.create();
      return { update: (b) => void h.update(b), digest: () => h.digest() };
    }
    case DIGEST_SHA256: {
      const h = sha256.create();
      return { update: (b) => void h.update(b), digest: () => h.digest() };
    }
    case DIGEST_SM3: {
      const h = new Sm3();
      return { update: (b) => void h.update(b), digest: () => h.digest() };
    }
    default:
      return null;
  }
}

/** A streaming hasher for a document digest algorithm by its §3 text name; null for any other name. */
export function newHasher(algorithm: string): Hasher | null {
  const tag = digestTag(algorithm);
  return tag === null ? null : hasherForTag(tag);
}

/** H(parts…) with the algorithm of `tag` (the caller passes a tag of §3). */
export function hashWith(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const h = hasherForTag(tag);
  if (h === null) throw new Error(`no digest algorithm with tag ${tag}`);
  for (const p of parts) h.update(p);
  return h.digest();
}

/**
 * The Merkle log and batch trees (SPEC §12): RFC 9162 shape, the chain's hash algorithm.
 */
import { hashWith } from './hash.js';

const LEAF = new Uint8Array([0x00]);
const NODE = new Uint8Array([0x01]);

/** leaf_hash = H(0x00 || leaf_data) (§12.1). */
export function leafHash(tag: number, data: Uint8Array): Uint8Array {
  return hashWith(tag, LEAF, data);
}

/** node_hash = H(0x01 || left || right) (§12.1). */
export function nodeHash(tag: number, left: Uint8Array, right: Uint8Array): Uint8Array {
  return hashWith(tag, NODE, left, right);
}

/** The largest log (§12.5 step 1). */
const TREE_SIZE_MAX = 2n ** 63n;

/**
 * Computes the root from a leaf hash and its inclusion path (§12.5, RFC 9162 §2.1.3.2).
 * Returns null when the proof's shape is wrong (index out of range, path too long or too short).
 */
export function rootFromInclusionProof(
  tag: number,
  leaf: Uint8Array,
  leafIndex: bigint,
  treeSize: bigint,
  path: readonly Uint8Array[],
): Uint8Array | null {
  // 1.
  if (treeSize === 0n || treeSize > TREE_SIZE_MAX || leafIndex >= treeSize) return null;
  // 2.
  let fn = leafIndex;
  let sn = treeSize - 1n;
  let r = leaf;
  // 3.
  for (const p of path) {
    if (sn === 0n) return null; // 3.1: the path is too long
    if ((fn & 1n) === 1n || fn === sn) {
      // 3.2
      r = nodeHash(tag, p, r);
      if ((fn & 1n) === 0n) {
        while (!((fn & 1n) === 1n || fn === 0n)) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      // 3.3
      r = nodeHash(tag, r, p);
    }
    // 3.4
    fn >>= 1n;
    sn >>= 1n;
  }
  // 4.
  if (sn !== 0n) return null; // the path is too short
  return r;
}

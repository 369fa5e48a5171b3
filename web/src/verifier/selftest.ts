/**
 * Self-tests of the primitives against published examples, run before relying on them:
 * SM3 (GB/T 32905-2016 appendix A), SM2 (the signature example of GB/T 32918 with the
 * recommended curve), Ed25519 (RFC 8032 §7.1 test 1), and the state tree of §11.3 / §11.5 on
 * small trees.
 */
import { bigToBytesBE, bytesEqual, concatBytes, fromHex, toHex, utf8 } from './bytes.js';
import { ED25519_L, decodeEd25519Point, ed25519PublicKeyOfSeed, verifyEd25519 } from './ed25519.js';
import { VerifyError } from './errors.js';
import { DIGEST_BLAKE3, hashWith } from './hash.js';
import { decodeKeyBytes, verifySignature } from './keys.js';
import { SM2_N, decodeSm2Point, encodeSm2Point, sm2PublicKeyOfSecret, verifySm2 } from './sm2.js';
import { sm3 } from './sm3.js';
import { PLACEHOLDER, buildStateProof, jmtInternal, jmtLeaf, stateTreeRoot, verifyStateProof } from './statetree.js';

export interface SelfTestResult {
  name: string;
  ok: boolean;
  detail: string;
}

function hex(s: string): Uint8Array {
  const b = fromHex(s.replace(/\s+/g, ''));
  if (b === null) throw new Error(`bad hex constant ${s}`);
  return b;
}

function codeOf(f: () => void): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof VerifyError) return e.code;
    throw e;
  }
}

/** Runs every self-test; each result says what was checked. */
export function selfTest(): SelfTestResult[] {
  const out: SelfTestResult[] = [];
  const check = (name: string, f: () => string | true) => {
    try {
      const r = f();
      out.push(r === true ? { name, ok: true, detail: 'ok' } : { name, ok: false, detail: r });
    } catch (e) {
      out.push({ name, ok: false, detail: `threw ${e instanceof Error ? e.message : String(e)}` });
    }
  };

  // ---- SM3, GB/T 32905-2016 appendix A
  check('SM3 "abc" (GB/T 32905 example 1)', () => {
    const d = toHex(sm3(utf8('abc')));
    return d === '66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0' || d;
  });
  check('SM3 "abcd" × 16 (GB/T 32905 example 2)', () => {
    const d = toHex(sm3(utf8('abcd'.repeat(16))));
    return d === 'debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732' || d;
  });
  check('SM3 streaming equals one-shot over odd splits', () => {
    const data = new Uint8Array(1000).map((_, i) => (i * 7 + 3) & 0xff);
    const whole = toHex(sm3(data));
    const parts = toHex(sm3(data.subarray(0, 1), data.subarray(1, 64), data.subarray(64, 65), data.subarray(65, 999), data.subarray(999)));
    return whole === parts || 'differs';
  });

  // ---- SM2, GB/T 32918 example (recommended curve)
  check('SM2 GB/T 32918 example: [d]G and the signature of "message digest"', () => {
    const d = 0x3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8n;
    const p = sm2PublicKeyOfSecret(d);
    const { x, y } = p.toAffine();
    if (x !== 0x09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020n) return `xP ${x.toString(16)}`;
    if (y !== 0xccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13n) return `yP ${y.toString(16)}`;
    const compressed = encodeSm2Point(p);
    const decoded = decodeSm2Point(compressed);
    if (decoded === null || !decoded.equals(p)) return 'the compressed key does not decode to [d]G';
    const r = 0xf5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3n;
    const s = 0xb1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aan;
    const sig = concatBytes(bigToBytesBE(r, 32), bigToBytesBE(s, 32));
    const msg = utf8('message digest');
    if (!verifySm2(decoded, sig, msg)) return 'the example signature does not verify';
    if (verifySm2(decoded, sig, utf8('message digesT'))) return 'verifies another message';
    if (verifySm2(decoded, concatBytes(bigToBytesBE(r, 32), bigToBytesBE(SM2_N - s, 32)), msg)) return '(r, n − s) verifies';
    if (verifySm2(decoded, sig, msg, utf8('evidence'))) return 'verifies under another user id';
    if (verifySm2(decoded, concatBytes(bigToBytesBE(r, 32), bigToBytesBE(s + SM2_N, 32)), msg)) return 's + n verifies';
    const key = decodeKeyBytes(2, compressed)!;
    if (!verifySignature(key, { tag: 2, bytes: sig }, msg)) return 'the tag 2 signature does not verify';
    if (verifySignature(key, { tag: 1, bytes: sig }, msg)) return 'the signature tagged Ed25519 verifies';
    return true;
  });
  check('SM2 key decoding refuses 04…, x = 2 (no point), x ≥ p', () => {
    const p = encodeSm2Point(sm2PublicKeyOfSecret(7n));
    const k04 = p.slice();
    k04[0] = 0x04;
    if (decodeSm2Point(k04) !== null) return 'prefix 04 decodes';
    const x2 = new Uint8Array(33);
    x2[0] = 2;
    x2[32] = 2;
    if (decodeSm2Point(x2) !== null) return 'x = 2 decodes';
    const xp = concatBytes(new Uint8Array([2]), hex('FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF'));
    if (decodeSm2Point(xp) !== null) return 'x = p decodes';
    return true;
  });

  // ---- Ed25519, RFC 8032 §7.1 test 1 (empty message)
  check('Ed25519 RFC 8032 test 1, strictly', () => {
    const seed = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    const pk = hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    const sig = hex(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    if (!bytesEqual(ed25519PublicKeyOfSeed(seed), pk)) return 'the public key of the seed differs';
    const a = decodeEd25519Point(pk);
    if (a === null) return 'the key does not decode';
    if (!verifyEd25519(a, pk, sig, new Uint8Array(0))) return 'the signature does not verify';
    if (verifyEd25519(a, pk, sig, new Uint8Array([0]))) return 'verifies another message';
    // S + ℓ still fits in 32 bytes here: refused by step 1.
    let s = 0n;
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!);
    const sl = s + ED25519_L;
    const sig2 = sig.slice();
    for (let i = 0; i < 32; i++) sig2[32 + i] = Number((sl >> BigInt(8 * i)) & 0xffn);
    if (verifyEd25519(a, pk, sig2, new Uint8Array(0))) return 'S + ℓ verifies';
    // The identity as key with R the identity and S = 0: [S]B − [k]A is the identity, whose
    // encoding is R byte for byte; the cofactorless equation holds, the small-order rule refuses it.
    const id = new Uint8Array(32);
    id[0] = 1;
    const idPoint = decodeEd25519Point(id)!;
    if (verifyEd25519(idPoint, id, concatBytes(id, new Uint8Array(32)), new Uint8Array(0))) return 'the identity key with R = identity, S = 0 verifies';
    // y = p + 1 (non-canonical R) never decodes.
    const nonCanonical = hex('eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');
    if (decodeEd25519Point(nonCanonical) !== null) return 'a non-canonical encoding decodes';
    return true;
  });

  // ---- the state tree (§11.3) and state proofs (§11.5), BLAKE3
  check('state tree: empty, one key, two keys, proofs of twelve keys', () => {
    const t = DIGEST_BLAKE3;
    const root = (st: [Uint8Array, Uint8Array][]) => ({ tag: t, bytes: stateTreeRoot(t, st) });
    if (!bytesEqual(stateTreeRoot(t, []), PLACEHOLDER)) return 'the empty tree is not the placeholder';
    const k1 = utf8('key-1');
    const v1 = utf8('value-1');
    if (!bytesEqual(stateTreeRoot(t, [[k1, v1]]), jmtLeaf(t, hashWith(t, k1), hashWith(t, v1)))) return 'a tree of one key is not its leaf';
    // two keys whose hashes differ in the first bit
    let ka: Uint8Array | null = null;
    let kb: Uint8Array | null = null;
    for (let i = 0; ka === null || kb === null; i++) {
      const k = utf8(`k${i}`);
      const bit = hashWith(t, k)[0]! >> 7;
      if (bit === 0 && ka === null) ka = k;
      if (bit === 1 && kb === null) kb = k;
    }
    const two = stateTreeRoot(t, [[kb, v1], [ka, v1]]);
    const expect = jmtInternal(t, jmtLeaf(t, hashWith(t, ka), hashWith(t, v1)), jmtLeaf(t, hashWith(t, kb), hashWith(t, v1)));
    if (!bytesEqual(two, expect)) return 'two keys split on the first bit are not the root children';
    const state: [Uint8Array, Uint8Array][] = [];
    for (let i = 0; i < 12; i++) state.push([utf8(`state-key-${i}`), utf8(`state-value-${i}`)]);
    const r = root(state);
    for (const [k, v] of state) {
      const p = buildStateProof(t, state, k);
      if (codeOf(() => verifyStateProof(t, k, v, p, r, 'present')) !== 'ok') return `the proof of ${toHex(k)} fails`;
      if (codeOf(() => verifyStateProof(t, k, utf8('other'), p, r, 'wrong value')) !== 'bad-state-proof') return 'a wrong value passes';
      if (codeOf(() => verifyStateProof(t, k, null, p, r, 'claimed absent')) !== 'bad-state-proof') return 'a present key passes as absent';
      if (p.siblings.length > 0) {
        const flipped = p.siblings.map((s) => s.slice());
        flipped[0]![0] ^= 1;
        if (codeOf(() => verifyStateProof(t, k, v, { leaf: p.leaf, siblings: flipped }, r, 'flipped')) !== 'state-root-mismatch') return 'a flipped sibling passes';
      }
    }
    for (let i = 0; i < 12; i++) {
      const k = utf8(`absent-key-${i}`);
      const p = buildStateProof(t, state, k);
      if (codeOf(() => verifyStateProof(t, k, null, p, r, 'absent')) !== 'ok') return `the absence proof of ${toHex(k)} fails`;
      if (codeOf(() => verifyStateProof(t, k, utf8('x'), p, r, 'claimed present')) !== 'bad-state-proof') return 'an absent key passes as present';
    }
    return true;
  });
  return out;
}

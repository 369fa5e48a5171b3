/**
 * SM2 (GB/T 32918.2) on the recommended curve of GB/T 32918.5 (SPEC §4.1, §4.2).
 *
 * Key decoding (the compressed point, §4.1) and the verification rule (§4.2) are written here
 * from the specification; the curve arithmetic is noble's generic short-Weierstrass module.
 */
import { weierstrass, type WeierstrassPoint } from '@noble/curves/abstract/weierstrass.js';
import { bigToBytesBE, bytesToBigBE, concatBytes, utf8 } from './bytes.js';
import { sm3 } from './sm3.js';

export const SM2_P = 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn;
export const SM2_A = SM2_P - 3n;
export const SM2_B = 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n;
export const SM2_N = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;
export const SM2_GX = 0x32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7n;
export const SM2_GY = 0xbc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0n;

/** The default user id of GM/T 0009-2012, bound by every SM2 signature of the ledger (§4.2). */
export const SM2_DEFAULT_USER_ID = utf8('1234567812345678');

const Sm2Point = weierstrass<bigint>({
  p: SM2_P,
  n: SM2_N,
  h: 1n,
  a: SM2_A,
  b: SM2_B,
  Gx: SM2_GX,
  Gy: SM2_GY,
});

export type Sm2Point = WeierstrassPoint<bigint>;

function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

function powMod(base: bigint, exp: bigint, m: bigint): bigint {
  let result = 1n;
  base = mod(base, m);
  while (exp > 0n) {
    if (exp & 1n) result = (result * base) % m;
    base = (base * base) % m;
    exp >>= 1n;
  }
  return result;
}

/**
 * Decodes a compressed SM2 public key (§4.1): first byte 0x02 (y even) or 0x03 (y odd), then
 * x as 32 bytes big-endian with x < p and x³ + a·x + b a square mod p; y is the root
 * (x³ + a·x + b)^((p+1)/4) mod p or p minus it, of the stated parity. Null for any other bytes.
 */
export function decodeSm2Point(bytes: Uint8Array): Sm2Point | null {
  if (bytes.length !== 33) return null;
  const prefix = bytes[0]!;
  if (prefix !== 0x02 && prefix !== 0x03) return null;
  const x = bytesToBigBE(bytes.subarray(1));
  if (x >= SM2_P) return null;
  const rhs = mod(x * x * x + SM2_A * x + SM2_B, SM2_P);
  let y = powMod(rhs, (SM2_P + 1n) / 4n, SM2_P);
  if ((y * y) % SM2_P !== rhs) return null; // not a square: x of no point
  if (y === 0n) return null; // no point of the curve has y = 0; kept as a guard
  if ((y & 1n) !== BigInt(prefix & 1)) y = SM2_P - y;
  try {
    const point = Sm2Point.fromAffine({ x, y });
    point.assertValidity();
    return point;
  } catch {
    return null;
  }
}

/** The compressed encoding of a point (not the point at infinity). */
export function encodeSm2Point(p: Sm2Point): Uint8Array {
  const { x, y } = p.toAffine();
  return concatBytes(new Uint8Array([(y & 1n) === 0n ? 0x02 : 0x03]), bigToBytesBE(x, 32));
}

/** [d]G, for the self-test of the standard's example. */
export function sm2PublicKeyOfSecret(d: bigint): Sm2Point {
  return Sm2Point.BASE.multiply(d);
}

/** Z = SM3(ENTL || ID || a || b || xG || yG || xP || yP) (§4.2 step 2). */
export function sm2Z(p: Sm2Point, userId: Uint8Array = SM2_DEFAULT_USER_ID): Uint8Array {
  const { x, y } = p.toAffine();
  const bits = userId.length * 8;
  return sm3(
    new Uint8Array([(bits >> 8) & 0xff, bits & 0xff]),
    userId,
    bigToBytesBE(SM2_A, 32),
    bigToBytesBE(SM2_B, 32),
    bigToBytesBE(SM2_GX, 32),
    bigToBytesBE(SM2_GY, 32),
    bigToBytesBE(x, 32),
    bigToBytesBE(y, 32),
  );
}

/**
 * The SM2 verification rule of §4.2: signature r || s (64 bytes) on `message` by key `p`
 * (decoded by §4.1), with the user id `1234567812345678` unless the caller names another
 * (the self-test does, to see a signature bound to another identity fail).
 */
export function verifySm2(p: Sm2Point, signature: Uint8Array, message: Uint8Array, userId: Uint8Array = SM2_DEFAULT_USER_ID): boolean {
  if (signature.length !== 64) return false;
  const r = bytesToBigBE(signature.subarray(0, 32));
  const s = bytesToBigBE(signature.subarray(32, 64));
  // 1. 1 ≤ r ≤ n − 1 and 1 ≤ s ≤ n − 1
  if (r < 1n || r >= SM2_N || s < 1n || s >= SM2_N) return false;
  // 2. e = SM3(Z || M)
  const e = bytesToBigBE(sm3(sm2Z(p, userId), message));
  // 3. t = (r + s) mod n ≠ 0
  const t = (r + s) % SM2_N;
  if (t === 0n) return false;
  // 4. (x1, y1) = [s]G + [t]P, not the point at infinity
  const q = Sm2Point.BASE.mulAddUnsafe(s, p, t);
  if (q.is0()) return false;
  const x1 = q.toAffine().x;
  // 5. (e + x1) mod n = r
  return (e + x1) % SM2_N === r;
}

/**
 * SM3 (GB/T 32905-2016), streaming. @noble/hashes has no SM3, so it is implemented here from
 * the standard: 512-bit blocks, Merkle–Damgård with the SHA-2 style padding (a 1 bit, zeros,
 * the message length in bits as a 64-bit big-endian integer), 64 rounds per block.
 */

const IV = new Uint32Array([
  0x7380166f, 0x4914b2b9, 0x172442d7, 0xda8a0600, 0xa96f30bc, 0x163138aa, 0xe38dee4d, 0xb0fb0e4e,
]);

function rotl(x: number, n: number): number {
  n &= 31;
  return n === 0 ? x >>> 0 : ((x << n) | (x >>> (32 - n))) >>> 0;
}

function p0(x: number): number {
  return (x ^ rotl(x, 9) ^ rotl(x, 17)) >>> 0;
}

function p1(x: number): number {
  return (x ^ rotl(x, 15) ^ rotl(x, 23)) >>> 0;
}

// T_j rotated left by j mod 32, precomputed.
const TJ = new Uint32Array(64);
for (let j = 0; j < 64; j++) TJ[j] = rotl(j < 16 ? 0x79cc4519 : 0x7a879d8a, j % 32);

export class Sm3 {
  private readonly v = new Uint32Array(IV);
  private readonly block = new Uint8Array(64);
  private blockLen = 0;
  private totalLen = 0; // bytes; exact up to 2^53
  private readonly w = new Uint32Array(68);
  private readonly w1 = new Uint32Array(64);
  private finished = false;

  update(data: Uint8Array): this {
    if (this.finished) throw new Error('SM3: update after digest');
    let i = 0;
    this.totalLen += data.length;
    if (this.blockLen > 0) {
      const take = Math.min(64 - this.blockLen, data.length);
      this.block.set(data.subarray(0, take), this.blockLen);
      this.blockLen += take;
      i = take;
      if (this.blockLen === 64) {
        this.compress(this.block, 0);
        this.blockLen = 0;
      }
    }
    while (data.length - i >= 64) {
      this.compress(data, i);
      i += 64;
    }
    if (i < data.length) {
      this.block.set(data.subarray(i), 0);
      this.blockLen = data.length - i;
    }
    return this;
  }

  digest(): Uint8Array {
    if (this.finished) throw new Error('SM3: digest called twice');
    this.finished = true;
    const bitLenHi = Math.floor(this.totalLen / 0x20000000); // (len * 8) / 2^32
    const bitLenLo = (this.totalLen * 8) >>> 0;
    this.block[this.blockLen++] = 0x80;
    if (this.blockLen > 56) {
      this.block.fill(0, this.blockLen);
      this.compress(this.block, 0);
      this.blockLen = 0;
    }
    this.block.fill(0, this.blockLen);
    const dv = new DataView(this.block.buffer, this.block.byteOffset, 64);
    dv.setUint32(56, bitLenHi >>> 0);
    dv.setUint32(60, bitLenLo);
    this.compress(this.block, 0);
    const out = new Uint8Array(32);
    const ov = new DataView(out.buffer);
    for (let k = 0; k < 8; k++) ov.setUint32(4 * k, this.v[k]!);
    return out;
  }

  private compress(buf: Uint8Array, off: number): void {
    const w = this.w;
    const w1 = this.w1;
    for (let j = 0; j < 16; j++) {
      const o = off + 4 * j;
      w[j] = ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
    }
    for (let j = 16; j < 68; j++) {
      w[j] = (p1((w[j - 16]! ^ w[j - 9]! ^ rotl(w[j - 3]!, 15)) >>> 0) ^ rotl(w[j - 13]!, 7) ^ w[j - 6]!) >>> 0;
    }
    for (let j = 0; j < 64; j++) w1[j] = (w[j]! ^ w[j + 4]!) >>> 0;

    const v = this.v;
    let a = v[0]!, b = v[1]!, c = v[2]!, d = v[3]!, e = v[4]!, f = v[5]!, g = v[6]!, h = v[7]!;
    for (let j = 0; j < 64; j++) {
      const a12 = rotl(a, 12);
      const ss1 = rotl((a12 + e + TJ[j]!) >>> 0, 7);
      const ss2 = (ss1 ^ a12) >>> 0;
      let ff: number, gg: number;
      if (j < 16) {
        ff = (a ^ b ^ c) >>> 0;
        gg = (e ^ f ^ g) >>> 0;
      } else {
        ff = ((a & b) | (a & c) | (b & c)) >>> 0;
        gg = ((e & f) | (~e & g)) >>> 0;
      }
      const tt1 = (ff + d + ss2 + w1[j]!) >>> 0;
      const tt2 = (gg + h + ss1 + w[j]!) >>> 0;
      d = c;
      c = rotl(b, 9);
      b = a;
      a = tt1;
      h = g;
      g = rotl(f, 19);
      f = e;
      e = p0(tt2);
    }
    v[0] = (v[0]! ^ a) >>> 0;
    v[1] = (v[1]! ^ b) >>> 0;
    v[2] = (v[2]! ^ c) >>> 0;
    v[3] = (v[3]! ^ d) >>> 0;
    v[4] = (v[4]! ^ e) >>> 0;
    v[5] = (v[5]! ^ f) >>> 0;
    v[6] = (v[6]! ^ g) >>> 0;
    v[7] = (v[7]! ^ h) >>> 0;
  }
}

/** SM3 of the concatenation of `parts`. */
export function sm3(...parts: Uint8Array[]): Uint8Array {
  const h = new Sm3();
  for (const p of parts) h.update(p);
  return h.digest();
}

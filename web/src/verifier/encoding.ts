/**
 * The canonical encoding (SPEC §2): a strict reader and a writer.
 *
 * Every decoding error is thrown as VerifyError("malformed", …): wherever the verifier decodes
 * bytes (receipt and status-proof fields, §9.3 step 0, §9.6), a decoding failure is `malformed`.
 */
import { fail } from './errors.js';
import { fromUtf8, utf8 } from './bytes.js';

/** Decoders reject `bytes` and `string` lengths above 16 MiB (§2). */
export const BYTES_MAX = 16 * 1024 * 1024;
/** Decoders reject `seq` counts above 2^20 (§2). */
export const SEQ_MAX = 1 << 20;
/** Identifiers are strings of at most 256 bytes (§1). */
export const ID_LEN_MAX = 256;

export class Reader {
  private pos = 0;

  constructor(
    private readonly buf: Uint8Array,
    /** What is being decoded, for error messages. */
    readonly what: string,
  ) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** The bytes from `start` to the current position (the encoding of what was just read). */
  since(start: number): Uint8Array {
    return this.buf.subarray(start, this.pos);
  }

  err(detail: string): never {
    fail('malformed', `${this.what}: ${detail} (at byte ${this.pos})`);
  }

  raw(n: number, field: string): Uint8Array {
    if (this.remaining < n) this.err(`${field}: ${n} bytes needed, ${this.remaining} left`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  u8(field: string): number {
    return this.raw(1, field)[0]!;
  }

  u16(field: string): number {
    const b = this.raw(2, field);
    return (b[0]! << 8) | b[1]!;
  }

  u32(field: string): number {
    const b = this.raw(4, field);
    return ((b[0]! << 24) >>> 0) + ((b[1]! << 16) | (b[2]! << 8) | b[3]!);
  }

  u64(field: string): bigint {
    const hi = this.u32(field);
    const lo = this.u32(field);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  bool(field: string): boolean {
    const b = this.u8(field);
    if (b === 0) return false;
    if (b === 1) return true;
    return this.err(`${field}: bool byte ${b} is neither 0 nor 1`);
  }

  /** A version byte that must equal `expected`. */
  version(expected: number, field: string): number {
    const v = this.u8(field);
    if (v !== expected) this.err(`${field}: unknown version ${v} (expected ${expected})`);
    return v;
  }

  bytes(field: string, limit: number = BYTES_MAX): Uint8Array {
    const n = this.u32(field);
    if (n > BYTES_MAX) this.err(`${field}: length ${n} above 16 MiB`);
    if (n > limit) this.err(`${field}: length ${n} above its limit of ${limit}`);
    return this.raw(n, field);
  }

  string(field: string, limit: number = BYTES_MAX): string {
    const b = this.bytes(field, limit);
    const s = fromUtf8(b);
    if (s === null) this.err(`${field}: invalid UTF-8`);
    return s;
  }

  /** An identifier: a string of at most 256 bytes. */
  id(field: string): string {
    return this.string(field, ID_LEN_MAX);
  }

  /** A `seq` count, checked against 2^20, the bytes left and the field's own limit. */
  count(field: string, limit: number = SEQ_MAX): number {
    const n = this.u32(field);
    if (n > SEQ_MAX) this.err(`${field}: count ${n} above 2^20`);
    if (n > this.remaining) this.err(`${field}: count ${n} above the ${this.remaining} bytes left`);
    if (n > limit) this.err(`${field}: count ${n} above its limit of ${limit}`);
    return n;
  }

  seq<T>(field: string, limit: number, item: (r: Reader, i: number) => T): T[] {
    const n = this.count(field, limit);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(item(this, i));
    return out;
  }

  option<T>(field: string, item: (r: Reader) => T): T | null {
    const tag = this.u8(field);
    if (tag === 0) return null;
    if (tag === 1) return item(this);
    return this.err(`${field}: option tag ${tag} is neither 0 nor 1`);
  }

  /** The end of a top-level structure: every byte consumed (§2). */
  end(): void {
    if (this.remaining !== 0) this.err(`${this.remaining} trailing byte(s)`);
  }
}

/** A growable byte writer for the canonical encoding. */
export class Writer {
  private buf = new Uint8Array(256);
  private len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  raw(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  u8(v: number): this {
    this.room(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    return this.u8(v >>> 8).u8(v);
  }

  u32(v: number): this {
    return this.u8(v >>> 24).u8(v >>> 16).u8(v >>> 8).u8(v);
  }

  u64(v: bigint): this {
    return this.u32(Number((v >> 32n) & 0xffffffffn)).u32(Number(v & 0xffffffffn));
  }

  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }

  bytes(b: Uint8Array): this {
    return this.u32(b.length).raw(b);
  }

  string(s: string): this {
    return this.bytes(utf8(s));
  }

  /** ASCII/UTF-8 text with no length prefix (domain prefixes). */
  text(s: string): this {
    return this.raw(utf8(s));
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

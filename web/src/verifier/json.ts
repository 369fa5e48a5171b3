/**
 * A strict RFC 8259 JSON reader that keeps what JSON.parse loses: a field given twice is an
 * error, numbers keep their literal text (so `1.0`, `1e0` and `4294967297` are told apart),
 * and objects keep their field order. A file starting with a byte-order mark is not JSON (§8).
 */
import { fromUtf8 } from './bytes.js';

export type Json =
  | { readonly t: 'object'; readonly fields: ReadonlyMap<string, Json> }
  | { readonly t: 'array'; readonly items: readonly Json[] }
  | { readonly t: 'string'; readonly v: string }
  | { readonly t: 'number'; readonly raw: string }
  | { readonly t: 'boolean'; readonly v: boolean }
  | { readonly t: 'null' };

export class JsonError extends Error {}

const MAX_DEPTH = 128;
// RFC 8259 number grammar, matched where the parser stands (sticky).
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** The text of a file given as bytes or text: UTF-8, no byte-order mark. */
export function jsonText(file: string | Uint8Array): string {
  let text: string;
  if (typeof file === 'string') {
    text = file;
  } else {
    if (file.length >= 3 && file[0] === 0xef && file[1] === 0xbb && file[2] === 0xbf) {
      throw new JsonError('the file starts with a UTF-8 byte-order mark');
    }
    const t = fromUtf8(file);
    if (t === null) throw new JsonError('the file is not UTF-8');
    text = t;
  }
  if (text.charCodeAt(0) === 0xfeff) throw new JsonError('the file starts with a byte-order mark');
  return text;
}

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  fail(what: string): never {
    throw new JsonError(`${what} at character ${this.i}`);
  }

  ws(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.i++;
      else break;
    }
  }

  document(): Json {
    this.ws();
    const v = this.value(0);
    this.ws();
    if (this.i !== this.s.length) this.fail('unexpected text after the JSON value');
    return v;
  }

  value(depth: number): Json {
    if (depth > MAX_DEPTH) this.fail('nesting too deep');
    const c = this.s[this.i];
    switch (c) {
      case '{':
        return this.object(depth);
      case '[':
        return this.array(depth);
      case '"':
        return { t: 'string', v: this.string() };
      case 't':
        return this.literal('true', { t: 'boolean', v: true });
      case 'f':
        return this.literal('false', { t: 'boolean', v: false });
      case 'n':
        return this.literal('null', { t: 'null' });
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
        return this.fail(c === undefined ? 'unexpected end of input' : `unexpected character ${JSON.stringify(c)}`);
    }
  }

  literal(word: string, v: Json): Json {
    if (this.s.startsWith(word, this.i)) {
      this.i += word.length;
      return v;
    }
    return this.fail('invalid literal');
  }

  number(): Json {
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.s);
    if (m === null) return this.fail('invalid number');
    this.i += m[0].length;
    return { t: 'number', raw: m[0] };
  }

  string(): string {
    const s = this.s;
    this.i++; // opening quote
    let out = '';
    let start = this.i;
    for (;;) {
      if (this.i >= s.length) this.fail('unterminated string');
      const c = s.charCodeAt(this.i);
      if (c === 0x22) {
        out += s.slice(start, this.i);
        this.i++;
        return out;
      }
      if (c < 0x20) this.fail('control character in a string');
      if (c === 0x5c) {
        out += s.slice(start, this.i);
        const e = s[this.i + 1];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const hex = s.slice(this.i + 2, this.i + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape');
            out += String.fromCharCode(parseInt(hex, 16));
            this.i += 4;
            break;
          }
          default:
            this.fail('invalid escape');
        }
        this.i += 2;
        start = this.i;
        continue;
      }
      this.i++;
    }
  }

  array(depth: number): Json {
    this.i++;
    const items: Json[] = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return { t: 'array', items };
    }
    for (;;) {
      this.ws();
      items.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === ']') {
        this.i++;
        return { t: 'array', items };
      }
      this.fail('expected , or ] in an array');
    }
  }

  object(depth: number): Json {
    this.i++;
    const fields = new Map<string, Json>();
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return { t: 'object', fields };
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('expected a field name');
      const name = this.string();
      if (fields.has(name)) this.fail(`field "${name}" given twice`);
      this.ws();
      if (this.s[this.i] !== ':') this.fail('expected :');
      this.i++;
      this.ws();
      fields.set(name, this.value(depth + 1));
      this.ws();
      const c = this.s[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === '}') {
        this.i++;
        return { t: 'object', fields };
      }
      this.fail('expected , or } in an object');
    }
  }
}

/** Parses a JSON text strictly; throws JsonError. */
export function parseJson(text: string): Json {
  return new Parser(text).document();
}

/** True when a number literal is a JSON integer literal: optional `-`, then `0` or digits not starting with `0`. */
export function isIntegerLiteral(raw: string): boolean {
  return /^-?(?:0|[1-9][0-9]*)$/.test(raw);
}

/**
 * Checks that `obj` has exactly the `required` fields and any of the `optional` ones; returns a
 * reason when it does not.
 */
export function fieldProblem(
  obj: Json & { t: 'object' },
  required: readonly string[],
  optional: readonly string[] = [],
): string | null {
  for (const name of obj.fields.keys()) {
    if (!required.includes(name) && !optional.includes(name)) return `unknown field "${name}"`;
  }
  for (const name of required) if (!obj.fields.has(name)) return `missing field "${name}"`;
  return null;
}

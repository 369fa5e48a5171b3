/**
 * What the receipt and status-proof readers share (SPEC §8, §9.3 step 0, §9.6 step 0): the
 * JSON, its shape, the hex fields and the hand-offs.
 */
import { fromHex } from './bytes.js';
import { fail } from './errors.js';
import { fieldProblem, isIntegerLiteral, jsonText, JsonError, parseJson, type Json } from './json.js';
import { decodeCertificate, decodeHeader, decodeValidatorSet } from './structures.js';
import type { Handoff } from './checkpoint.js';

export type JObject = Json & { t: 'object' };

/** The file as a JSON object, or [not-json]. */
export function parseTopObject(file: string | Uint8Array): JObject {
  let root: Json;
  try {
    root = parseJson(jsonText(file));
  } catch (e) {
    if (e instanceof JsonError) fail('not-json', e.message);
    throw e;
  }
  if (root.t !== 'object') fail('not-json', `the top level is a JSON ${root.t}, not an object`);
  return root;
}

/** Exactly the fields named [not-json]. */
export function requireFields(o: JObject, where: string, required: readonly string[], optional: readonly string[] = []): void {
  const p = fieldProblem(o, required, optional);
  if (p !== null) fail('not-json', `${where}: ${p}`);
}

/** A string field [not-json]. */
export function requireString(o: JObject, name: string, where: string): string {
  const v = o.fields.get(name);
  if (v === undefined || v.t !== 'string') fail('not-json', `${where}: "${name}" is not a string`);
  return v.v;
}

/** A number for a message, shortened when it is very long (a version may be any size). */
export function shortNumber(v: bigint): string {
  const s = v.toString();
  return s.length > 24 ? `${s.slice(0, 20)}… (${s.length} digits)` : s;
}

/** `version`: a JSON integer literal of any size [not-json]. */
export function requireVersion(o: JObject): bigint {
  const v = o.fields.get('version');
  if (v === undefined || v.t !== 'number' || !isIntegerLiteral(v.raw)) fail('not-json', '"version" is not a JSON integer literal');
  return BigInt(v.raw);
}

/** An object field (null is not one; an array is not one) [not-json]. */
export function requireObject(j: Json | undefined, where: string): JObject {
  if (j === undefined || j.t !== 'object') fail('not-json', `${where} is not a JSON object`);
  return j;
}

/** An array field (null is not one) [not-json]. */
export function requireArray(j: Json | undefined, where: string): readonly Json[] {
  if (j === undefined || j.t !== 'array') fail('not-json', `${where} is not a JSON array`);
  return j.items;
}

/** The shape of `handoffs`: an array of objects with exactly the string fields header, certificate and validators [not-json]. */
export function handoffsShape(j: Json | undefined): { header: string; certificate: string; validators: string }[] | null {
  if (j === undefined) return null;
  return requireArray(j, '"handoffs"').map((h, i) => {
    const w = `handoffs[${i}]`;
    const o = requireObject(h, w);
    requireFields(o, w, ['header', 'certificate', 'validators']);
    return {
      header: requireString(o, 'header', w),
      certificate: requireString(o, 'certificate', w),
      validators: requireString(o, 'validators', w),
    };
  });
}

/** The bytes of a hex field [bad-hex]. */
export function hexField(text: string, name: string): Uint8Array {
  const b = fromHex(text);
  if (b === null) fail('bad-hex', `${name} is not an even number of hex digits`);
  return b;
}

/** Each hand-off's header, certificate and validators, hex then decoding, one after the other [bad-hex, malformed]. */
export function decodeHandoffs(shapes: readonly { header: string; certificate: string; validators: string }[]): Handoff[] {
  return shapes.map((s, i) => {
    const w = `handoffs[${i}]`;
    const header = decodeHeader(hexField(s.header, `${w}.header`), `${w}.header`);
    const certificate = decodeCertificate(hexField(s.certificate, `${w}.certificate`), `${w}.certificate`);
    const validators = decodeValidatorSet(hexField(s.validators, `${w}.validators`), `${w}.validators`);
    return { header, certificate, validators };
  });
}

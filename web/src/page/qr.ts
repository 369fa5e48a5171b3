// The evidence certificate's QR code (SPEC.md §8.4): the receipt file itself, compressed, or,
// when it does not fit, a reference to it.
//
//   receipt form:   the 4 ASCII bytes "EVR1", then the raw DEFLATE (RFC 1951) of the receipt
//                   file's bytes, exactly as the file holds them
//   reference form: the 4 ASCII bytes "EVD1", then UTF-8 JSON
//                   {"digest", "chain_id", "genesis", "member", "project_id", "document_id",
//                    "version", "entry", "height"}
//
// Both are QR byte-mode data; the largest symbol used is version 40 at level L (2,953 bytes).
import { deflateSync, inflateSync } from "fflate";
import { fieldProblem, isIntegerLiteral, parseJson, type Json } from "../verifier/json";
import qrcode from "qrcode-generator";
import jsQR from "jsqr";

export const RECEIPT_MAGIC = "EVR1";
export const REFERENCE_MAGIC = "EVD1";
/** Byte-mode capacity of a version 40 symbol at error correction level L. */
export const QR_CAPACITY = 2953;

export interface ReceiptReference {
  digest: string;
  chain_id: string;
  genesis: string;
  member: string;
  project_id: string;
  document_id: string;
  version: number;
  entry: number;
  height: number;
}

export type QrPayload =
  | { kind: "receipt"; receipt: Uint8Array }
  | { kind: "reference"; reference: ReceiptReference }
  /** A certificate code whose data cannot be read (EVR1 that does not inflate, EVD1 that is not the JSON of §8.4). */
  | { kind: "unreadable"; detail: string };

/** Raw DEFLATE (RFC 1951), in the page: no dependence on the browser's CompressionStream. */
export function deflate(bytes: Uint8Array): Uint8Array {
  return deflateSync(bytes, { level: 9 });
}

/** Raw INFLATE; throws on data that is not one complete DEFLATE stream. */
export function inflate(bytes: Uint8Array): Uint8Array {
  return inflateSync(bytes);
}

function concat(magic: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(magic.length + body.length);
  for (let i = 0; i < magic.length; i++) out[i] = magic.charCodeAt(i);
  out.set(body, magic.length);
  return out;
}

/** The payload for a receipt: the receipt form when it fits a QR code, else the reference. */
export function certificatePayload(
  receiptFile: Uint8Array,
  reference: ReceiptReference,
): { kind: "receipt" | "reference"; bytes: Uint8Array } {
  const packed = concat(RECEIPT_MAGIC, deflate(receiptFile));
  if (packed.length <= QR_CAPACITY) return { kind: "receipt", bytes: packed };
  const json = new TextEncoder().encode(JSON.stringify(reference));
  return { kind: "reference", bytes: concat(REFERENCE_MAGIC, json) };
}

/**
 * A QR code of the bytes as an SVG element's markup: black modules on white with a four-module
 * quiet zone, as vector paths so that print and PDF keep every edge sharp at any resolution.
 */
export function qrSvg(bytes: Uint8Array): { svg: string; version: number } {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  // The smallest symbol that holds the bytes at level M, else at level L.
  let code: ReturnType<typeof qrcode> | null = null;
  for (const level of ["M", "L"] as const) {
    try {
      const candidate = qrcode(0, level);
      candidate.addData(binary, "Byte");
      candidate.make();
      code = candidate;
      break;
    } catch {
      code = null;
    }
  }
  if (code === null) throw new Error(`${bytes.length} bytes do not fit a QR code`);
  const modules = code.getModuleCount();
  const quiet = 4;
  const size = modules + 2 * quiet;
  let path = "";
  for (let row = 0; row < modules; row++) {
    for (let col = 0; col < modules; col++) {
      // Runs of dark modules in a row, one rectangle each.
      if (!code.isDark(row, col)) continue;
      let run = 1;
      while (col + run < modules && code.isDark(row, col + run)) run++;
      path += `M${col + quiet} ${row + quiet}h${run}v1h-${run}z`;
      col += run - 1;
    }
  }
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${size} ${size}" shape-rendering="crispEdges" ` +
    `role="img" aria-label="QR">` +
    `<rect width="${size}" height="${size}" fill="#fff"/><path d="${path}" fill="#000"/></svg>`;
  return { svg, version: (modules - 17) / 4 };
}

/**
 * Finds a QR code in an image and reads an evidence payload from it. A scan of a printed page
 * is tried at a few scales: the finder's binarizer is sensitive to module size and blur, and a
 * code it misses at one scale it often finds at another.
 */
export async function scanImage(image: Blob): Promise<QrPayload | "none" | "foreign"> {
  const bitmap = await createImageBitmap(image);
  const longest = Math.max(bitmap.width, bitmap.height);
  const scales = [Math.min(1, 4000 / longest), Math.min(1, 2400 / longest), 0.75, 0.5].filter(
    (scale, index, all) => scale <= 1 && all.indexOf(scale) === index && longest * scale >= 200,
  );
  for (const scale of scales) {
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    if (context === null) throw new Error("no 2D canvas");
    context.imageSmoothingQuality = "high";
    context.drawImage(bitmap, 0, 0, width, height);
    const pixels = context.getImageData(0, 0, width, height);
    const found = jsQR(pixels.data, width, height, { inversionAttempts: "attemptBoth" });
    if (found !== null) return readPayload(new Uint8Array(found.binaryData));
  }
  return "none";
}

const REFERENCE_FIELDS: Record<keyof ReceiptReference, "string" | "integer"> = {
  digest: "string",
  chain_id: "string",
  genesis: "string",
  member: "string",
  project_id: "string",
  document_id: "string",
  version: "integer",
  entry: "integer",
  height: "integer",
};

/** Reads a certificate code's data (SPEC.md §8.4); "foreign" for data of any other kind. */
export function readPayload(bytes: Uint8Array): QrPayload | "foreign" {
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  const body = bytes.subarray(4);
  if (magic === RECEIPT_MAGIC) {
    try {
      return { kind: "receipt", receipt: inflate(body) };
    } catch (error) {
      return { kind: "unreadable", detail: `the receipt in the code does not inflate: ${String(error)}` };
    }
  }
  if (magic !== REFERENCE_MAGIC) return "foreign";
  // The strict reader: a field given twice is an error, and integer literals keep their text.
  let value: Json;
  try {
    value = parseJson(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    return { kind: "unreadable", detail: "the reference in the code is not UTF-8 JSON (or names a field twice)" };
  }
  if (value.t !== "object") return { kind: "unreadable", detail: "the reference in the code is not a JSON object" };
  const problem = fieldProblem(value, Object.keys(REFERENCE_FIELDS));
  if (problem !== null) return { kind: "unreadable", detail: `the reference: ${problem}` };
  const record: Record<string, string | number> = {};
  for (const [name, type] of Object.entries(REFERENCE_FIELDS)) {
    const field = value.fields.get(name)!;
    if (type === "string" && field.t === "string") {
      record[name] = field.v;
    } else if (type === "integer" && field.t === "number" && isIntegerLiteral(field.raw) && Number.isSafeInteger(Number(field.raw)) && Number(field.raw) >= 0) {
      record[name] = Number(field.raw);
    } else {
      return { kind: "unreadable", detail: `the reference's field ${name} is not a${type === "integer" ? "n integer from 0 to 2^53 − 1" : " string"}` };
    }
  }
  return { kind: "reference", reference: record as unknown as ReceiptReference };
}

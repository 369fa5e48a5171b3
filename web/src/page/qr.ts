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
  | { kind: "reference"; reference: ReceiptReference };

async function through(
  bytes: Uint8Array,
  stream: CompressionStream | DecompressionStream,
): Promise<Uint8Array> {
  const out = new Blob([bytes as BlobPart]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

export function deflate(bytes: Uint8Array): Promise<Uint8Array> {
  return through(bytes, new CompressionStream("deflate-raw"));
}

export function inflate(bytes: Uint8Array): Promise<Uint8Array> {
  return through(bytes, new DecompressionStream("deflate-raw"));
}

function concat(magic: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(magic.length + body.length);
  for (let i = 0; i < magic.length; i++) out[i] = magic.charCodeAt(i);
  out.set(body, magic.length);
  return out;
}

/** The payload for a receipt: the receipt form when it fits a QR code, else the reference. */
export async function certificatePayload(
  receiptFile: Uint8Array,
  reference: ReceiptReference,
): Promise<{ kind: "receipt" | "reference"; bytes: Uint8Array }> {
  const packed = concat(RECEIPT_MAGIC, await deflate(receiptFile));
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

export async function readPayload(bytes: Uint8Array): Promise<QrPayload | "foreign"> {
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  const body = bytes.subarray(4);
  try {
    if (magic === RECEIPT_MAGIC) return { kind: "receipt", receipt: await inflate(body) };
    if (magic === REFERENCE_MAGIC) {
      const reference = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
      if (typeof reference === "object" && reference !== null && typeof reference.digest === "string") {
        return { kind: "reference", reference: reference as ReceiptReference };
      }
    }
  } catch {
    return "foreign";
  }
  return "foreign";
}

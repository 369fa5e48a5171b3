/**
 * The one error type of the verifier: a failed check of SPEC.md §9 (or of the genesis file,
 * §10.3), named by its bracketed code, with an English reason.
 */
export class VerifyError extends Error {
  /** A bracketed error code of SPEC.md §9, or "invalid-genesis" for an unacceptable genesis file. */
  readonly code: string;
  /** A human-readable English reason. */
  readonly detail: string;

  constructor(code: string, detail: string) {
    super(`${code}: ${detail}`);
    this.name = 'VerifyError';
    this.code = code;
    this.detail = detail;
  }
}

/** Throws VerifyError(code, detail). */
export function fail(code: string, detail: string): never {
  throw new VerifyError(code, detail);
}

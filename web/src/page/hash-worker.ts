// Hashes one file in a worker, in slices, reporting progress, so a large drawing does not freeze
// the page. Message in: { file: Blob, algorithm: string }; out: progress messages, then
// { done: Uint8Array } or { error: string }.
import { newHasher } from "../verifier/index";

const SLICE = 4 * 1024 * 1024;

interface Request {
  file: Blob;
  algorithm: string;
}

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<Request>) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = async (event) => {
  const { file, algorithm } = event.data;
  const hasher = newHasher(algorithm);
  if (hasher === null) {
    scope.postMessage({ error: `unknown digest algorithm ${algorithm}` });
    return;
  }
  try {
    const total = file.size;
    let done = 0;
    let lastReport = 0;
    while (done < total) {
      const end = Math.min(total, done + SLICE);
      const chunk = new Uint8Array(await file.slice(done, end).arrayBuffer());
      hasher.update(chunk);
      done = end;
      const now = Date.now();
      if (now - lastReport > 100 || done === total) {
        lastReport = now;
        scope.postMessage({ progress: done, total });
      }
    }
    scope.postMessage({ done: hasher.digest() });
  } catch (error) {
    scope.postMessage({ error: String(error) });
  }
};

/** The worker's side of its message port, for tests of serveWorker (src/app/supervisor.ts). */
import type { FromWorker, ToWorker } from "../../src/app/worker_protocol.ts";

/**
 * A port whose messages to the main thread are kept in `posted`; `send`
 * plays the main thread (once serveWorker has set `onmessage`).
 */
export function fakeWorkerPort(): {
  port: {
    onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
    postMessage: (message: FromWorker) => void;
  };
  posted: FromWorker[];
  send: (data: ToWorker) => void;
} {
  const posted: FromWorker[] = [];
  const port = {
    onmessage: null as ((event: MessageEvent<ToWorker>) => void) | null,
    postMessage: (message: FromWorker) => void posted.push(message),
  };
  const send = (data: ToWorker) => port.onmessage!(new MessageEvent("message", { data }));
  return { port, posted, send };
}

/**
 * A worker for tests/app/supervisor_test.ts that, like the real one on a first
 * run, takes its time before it listens; its start fails on purpose so the
 * supervisor resolves with the exit code 1.
 */
import { serveWorker } from "../../src/app/supervisor.ts";

await new Promise((resolve) => setTimeout(resolve, 300));
serveWorker({
  start: () => Promise.reject(new Error("started, as the test wants")),
  reload: () => Promise.resolve(),
  reloadRefused: () => {},
  stop: () => Promise.resolve(0),
  hurry: () => {},
});

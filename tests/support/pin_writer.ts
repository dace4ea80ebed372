/**
 * One process writing affinity pins to a `state_dir` as a serving instance
 * does, and reading them back as a standby sharing the directory does:
 * `deno run … pin_writer.ts DIR NAME STEPS`. Step i pins `NAME-i` and
 * unpins `NAME-(i-3)`, so `NAME-(STEPS-3)` … `NAME-(STEPS-1)` stay. Prints
 * the errors it met, one per line; exits 1 if there was any.
 */
import { openPinStore } from "../../src/ops/pins.ts";

export const PIN_DOMAIN = "focus.example.org";

if (import.meta.main) {
  const [dir, name, steps] = Deno.args;
  const store = openPinStore(dir);
  let failed = false;
  for (let i = 0; i < Number(steps); i++) {
    try {
      store.apply(PIN_DOMAIN, [[`${name}-${i}`, "a"], [`${name}-${i - 3}`, undefined]]);
      store.list(PIN_DOMAIN);
    } catch (error) {
      failed = true;
      console.log(`step ${i}: ${error instanceof Error ? error.message : error}`);
    }
  }
  store.close();
  Deno.exit(failed ? 1 : 0);
}

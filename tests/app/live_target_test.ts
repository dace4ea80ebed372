/** The implementing account as the live check hears of it (src/app/live_target.ts). */
import assert from "node:assert/strict";
import { TargetHeard } from "../../src/app/live_target.ts";
import { parseXml } from "../../src/core/xml.ts";

const TARGET = "service@example.org";
const heard = (...stanzas: string[]) => {
  const target = new TargetHeard(TARGET);
  for (const stanza of stanzas) target.read(parseXml(stanza));
  return target;
};

Deno.test("target heard: approval, resources in the order announced, and their going", () => {
  const target = heard(
    `<presence type='subscribed' from='${TARGET}'/>`,
    `<presence from='${TARGET}/b'/>`,
    `<presence from='Service@Example.org/a'/>`,
    `<presence from='${TARGET}/b'><priority>5</priority></presence>`,
  );
  assert.deepEqual(target.subscription, { state: "approved" });
  assert.deepEqual(target.resources, ["b", "a"]);
  assert.equal(target.address("a"), "Service@Example.org/a");
  target.read(parseXml(`<presence type='unavailable' from='${TARGET}/b'/>`));
  assert.deepEqual(target.resources, ["a"]);
  target.read(parseXml(`<presence type='unavailable' from='${TARGET}'/>`));
  assert.deepEqual(target.resources, []);
});

Deno.test("target heard: a resource's presence is an approval; others' presence is nothing", () => {
  assert.deepEqual(heard(`<presence from='${TARGET}/a'/>`).subscription, { state: "approved" });
  const other = heard(
    `<presence type='subscribed' from='alice@example.org'/>`,
    `<presence from='alice@example.org/a'/>`,
    `<message type='subscribed' from='${TARGET}'/>`,
  );
  assert.deepEqual(other.subscription, { state: "pending" });
  assert.deepEqual(other.resources, []);
});

Deno.test("target heard: a refusal or an error while pending; not once approved", () => {
  assert.deepEqual(heard(`<presence type='unsubscribed' from='${TARGET}'/>`).subscription, {
    state: "refused",
  });
  const error = `<presence type='error' from='${TARGET}'><error type='cancel'>` +
    `<remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`;
  assert.deepEqual(heard(error).subscription, {
    state: "error",
    condition: "remote-server-not-found",
  });
  const approved = heard(`<presence type='subscribed' from='${TARGET}'/>`, error);
  assert.deepEqual(approved.subscription, { state: "approved" });
});

Deno.test("target heard: which resources drain, by their dnd or the config's drain", () => {
  const target = heard(
    `<presence from='${TARGET}/a'><show>dnd</show></presence>`,
    `<presence from='${TARGET}/b'/>`,
    `<presence from='${TARGET}/c'><show> dnd </show></presence>`,
  );
  assert.deepEqual(target.draining(), ["a", "c"]);
  assert.deepEqual(target.draining(["b", "gone"]), ["a", "b", "c"]);
  // Back in service, or gone: no longer draining.
  target.read(parseXml(`<presence from='${TARGET}/a'><show>chat</show></presence>`));
  target.read(parseXml(`<presence type='unavailable' from='${TARGET}/c'/>`));
  assert.deepEqual(target.draining(), []);
  target.read(parseXml(`<presence from='${TARGET}/c'/>`));
  assert.deepEqual(target.draining(), [], "a resource back after leaving says anew");
});

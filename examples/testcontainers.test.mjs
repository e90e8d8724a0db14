// lifecycle-sim as a container in a Node test, with testcontainers for Node.
//
//   npm install testcontainers
//   docker build -t lifecycle-sim:0.1.0 .      # in this repository
//   node --test examples/testcontainers.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { GenericContainer, Wait } from "testcontainers";

let container;
let base;

before(async () => {
  container = await new GenericContainer("lifecycle-sim:0.1.0")
    .withExposedPorts(4747)
    .withEnvironment({ LIFECYCLE_SIM_PAUSED: "true", LIFECYCLE_SIM_SEED: "7" })
    // The image's HEALTHCHECK is `lifecycle-sim health`; wait for it (or for the ready line:
    // Wait.forLogMessage("listening on")).
    .withWaitStrategy(Wait.forHealthCheck())
    .start();
  base = `http://${container.getHost()}:${container.getMappedPort(4747)}`;
});

after(async () => {
  await container?.stop();
});

test("the clock jumps ninety minutes", async () => {
  const before = await (await fetch(`${base}/_sim/clock`)).json();
  const advanced = await (
    await fetch(`${base}/_sim/clock/advance`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ by: "90m" }),
    })
  ).json();
  assert.equal(before.paused, true);
  assert.ok(advanced.now > before.now);
});

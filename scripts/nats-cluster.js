#!/usr/bin/env node
// A local 3-node NATS cluster (JetStream, an MQTT listener per node) and a Redis, on loopback free
// ports, for `bench pipeline --mqtt-url … --arbiter …` (docs/system.md). The same set-up as
// test/system/nats-cluster.test.ts (built: `npx tsc -p .` first). Prints the flags to pass, runs
// until SIGINT/SIGTERM, then stops every node and removes their stores.
import { startNatsCluster } from '../dist/test/helpers/nats.js';
import { startRedis } from '../dist/test/helpers/redis.js';

const cluster = await startNatsCluster(3);
const redis = await startRedis();
console.log(`--mqtt-url ${cluster.nodes.map((node) => node.mqttUrl).join(',')} --arbiter ${redis.url} --outcome-qos 1`);
const stop = async () => {
  await cluster.stop();
  await redis.stop();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

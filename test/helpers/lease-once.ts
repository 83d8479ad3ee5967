/**
 * One lease attempt in a process of its own, for the race tests: `node lease-once.js DIR WORKFLOW_ID GPUS START_AT`
 * waits until the epoch millisecond START_AT (so that several processes claim at the same moment), tries to lease
 * two of GPUS virtual GPUs and four ports, and prints the outcome as JSON.
 */
import { tryLease } from '../../src/placement/leases.js';
import { portRolesFor } from '../../src/placement/placement.js';

const [dir, workflowId, gpus, startAt] = process.argv.slice(2);
while (Date.now() < Number(startAt)) {
  // Busy-wait: a timer's granularity would spread the processes' starts.
}
const attempt = await tryLease(dir!, {
  workflowId: workflowId!,
  node: 'race',
  gpuPreference: Array.from({ length: Number(gpus) }, (_, index) => index),
  pinnedPorts: {},
  portRoles: portRolesFor('server'),
  portRange: { first: 30000, last: 30015 },
  portFree: async () => true,
});
process.stdout.write(`${JSON.stringify(attempt)}\n`);

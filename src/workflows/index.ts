/** The workflow bundle's entry: every workflow type the worker registers. */
export { lmcacheMpTest } from './lmcache-mp-test.js';
export { lmcacheMpBisect } from './lmcache-mp-bisect.js';

/** How Docker's refusals are read: a removal another remover started is no failure of ours. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isNotFound, isRemovalInProgress } from '../../src/docker/client.js';

const refusal = (statusCode: number, message: string) => Object.assign(new Error(message), { statusCode });

describe('Docker refusals', () => {
  it('a 409 for a removal already in progress, as the engine words it', () => {
    const message = '(HTTP code 409) unexpected - removal of container a3069f12a226 is already in progress ';
    assert.equal(isRemovalInProgress(refusal(409, message)), true);
    assert.equal(isRemovalInProgress(refusal(409, 'Conflict. The container name "/x" is already in use')), false);
    assert.equal(isRemovalInProgress(refusal(404, 'no such container')), false);
    assert.equal(isNotFound(refusal(404, 'no such container')), true);
  });
});

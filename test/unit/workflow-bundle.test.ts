import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_WORKFLOW_BUNDLE, workflowBundlePath } from '../../src/workflow-bundle.js';

describe('workflow bundle: the one npm run build made, or WORKFLOW_BUNDLE', () => {
  it('defaults to dist/workflow-bundle.js, which the build made', () => {
    assert.equal(path.basename(DEFAULT_WORKFLOW_BUNDLE), 'workflow-bundle.js');
    assert.equal(path.basename(path.dirname(DEFAULT_WORKFLOW_BUNDLE)), 'dist');
    assert.ok(existsSync(DEFAULT_WORKFLOW_BUNDLE), 'npm run build makes the bundle');
    assert.equal(workflowBundlePath({}), DEFAULT_WORKFLOW_BUNDLE);
  });

  it('takes WORKFLOW_BUNDLE, made absolute', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'bundle-'));
    try {
      const file = path.join(dir, 'b.js');
      await writeFile(file, '');
      assert.equal(workflowBundlePath({ WORKFLOW_BUNDLE: path.relative(process.cwd(), file) }), file);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('refuses a missing WORKFLOW_BUNDLE, naming the variable and the value', () => {
    assert.throws(
      () => workflowBundlePath({ WORKFLOW_BUNDLE: '/nonexistent/bundle.js' }),
      /WORKFLOW_BUNDLE="\/nonexistent\/bundle\.js": no such file/,
    );
  });
});

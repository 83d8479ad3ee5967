import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';

import { chatFrameTokens } from '../../src/activities/chat-frame.js';

/** A `/tokenize` that answers each body with `answer(body)`: [status, JSON body]; records what it received. */
async function withTokenize(
  answer: (body: Record<string, unknown>) => [number, unknown],
  test: (port: number, received: Record<string, unknown>[]) => Promise<void>,
): Promise<void> {
  const received: Record<string, unknown>[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      received.push({ path: req.url, ...body });
      const [status, reply] = answer(body);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await test((server.address() as AddressInfo).port, received);
  } finally {
    server.close();
  }
}

describe('chatFrameTokens', () => {
  it("is the chat's count less the same text's as a prompt, asked as vLLM's /tokenize takes them", async () => {
    // As Qwen3: the text is 9 tokens, the templated one-turn chat 9 + 9.
    await withTokenize(
      (body) => [200, { count: body.messages ? 18 : 9, max_model_len: 40960, tokens: [] }],
      async (port, received) => {
        assert.equal(await chatFrameTokens(port, 'Qwen/Qwen3-14B'), 9);
        const [chat, prompt] = received;
        assert.equal(chat.path, '/tokenize');
        assert.equal(chat.model, 'Qwen/Qwen3-14B');
        assert.deepEqual(Object.keys(chat).sort(), ['messages', 'model', 'path']);
        const [message] = chat.messages as { role: string; content: { type: string; text: string }[] }[];
        assert.equal(message.role, 'user');
        assert.equal(message.content[0].type, 'text');
        // The prompt keeps vLLM's default add_special_tokens (true): what the tool's prompts already subtract.
        assert.deepEqual(prompt, { path: '/tokenize', model: 'Qwen/Qwen3-14B', prompt: message.content[0].text });
      },
    );
  });

  it('fails naming the route and the answer when the server refuses or answers without a count', async () => {
    await withTokenize(
      () => [404, { detail: 'Not Found' }],
      async (port) => {
        await assert.rejects(
          chatFrameTokens(port, 'm'),
          /POST http:\/\/127\.0\.0\.1:\d+\/tokenize answered 404: .*Not Found/,
        );
      },
    );
    await withTokenize(
      () => [200, { tokens: [1, 2] }],
      async (port) => {
        await assert.rejects(chatFrameTokens(port, 'm'), /\/tokenize answered without an integer "count"/);
      },
    );
  });
});

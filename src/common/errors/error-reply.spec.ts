import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorFormatOfPath } from './error-reply.js';

describe('errorFormatOfPath', () => {
  it("answers the Messages API's paths in Anthropic's shape however the path is spelled", () => {
    for (const url of [
      '/v1/messages',
      '/v1/messages/count_tokens?beta=true',
      '/%76%31/messages',
      '//v1//messages',
      '/v1/messages;x=1',
    ]) {
      assert.equal(errorFormatOfPath(url), 'anthropic', url);
    }
  });

  it("answers every other path, and a malformed escape, in OpenAI's shape", () => {
    for (const url of ['/v1/chat/completions', '/v1/responses', '/admin/keys', '/%E0%A4%A/messages', '/v2/messages']) {
      assert.equal(errorFormatOfPath(url), 'openai', url);
    }
  });
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { GatewayError, InvalidRequestError } from '../../common/errors/gateway.error.js';
import {
  bedrockEmbeddingFamily,
  cohereVectors,
  embeddingTexts,
  titanVector,
  toCohereEmbeddingRequest,
  toEmbeddingResponse,
  toTitanEmbeddingRequest,
} from './bedrock-embeddings.mapper.js';
import type { CohereEmbeddingResponse, TitanEmbeddingResponse } from './bedrock.types.js';
import { fixturesDir } from '../../../test/support/fixtures.js';

/** Fixtures stay in the source tree; compiled specs run from dist/src. */
const FIXTURES = fixturesDir(import.meta.url);

function rejectsWith(call: () => unknown, param: string): void {
  assert.throws(call, (error: unknown) => error instanceof InvalidRequestError && error.param === param);
}

describe('embeddings', () => {
  const recorded = JSON.parse(readFileSync(`${FIXTURES}embeddings.json`, 'utf8')) as {
    titan: { body: TitanEmbeddingResponse };
    cohere: { body: CohereEmbeddingResponse };
  };

  it('knows the embedding models by id, inference profiles and ARNs included', () => {
    assert.equal(bedrockEmbeddingFamily('amazon.titan-embed-text-v1'), 'titan-v1');
    assert.equal(bedrockEmbeddingFamily('amazon.titan-embed-text-v2:0'), 'titan-v2');
    assert.equal(bedrockEmbeddingFamily('cohere.embed-multilingual-v3'), 'cohere-v3');
    assert.equal(bedrockEmbeddingFamily('us.cohere.embed-v4:0'), 'cohere-v4');
    assert.equal(
      bedrockEmbeddingFamily('arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0'),
      'titan-v2',
    );
    assert.equal(bedrockEmbeddingFamily('amazon.nova-lite-v1:0'), undefined);
  });

  it('builds Titan and Cohere bodies, dimensions only where the model has them', () => {
    assert.deepEqual(toTitanEmbeddingRequest('titan-v2', 'hello', 256), { inputText: 'hello', dimensions: 256 });
    assert.deepEqual(toTitanEmbeddingRequest('titan-v1', 'hello', undefined), { inputText: 'hello' });
    rejectsWith(() => toTitanEmbeddingRequest('titan-v1', 'hello', 256), 'dimensions');
    assert.deepEqual(toCohereEmbeddingRequest('cohere-v3', ['a', 'b'], 'search_query', undefined), {
      texts: ['a', 'b'],
      input_type: 'search_query',
    });
    assert.deepEqual(toCohereEmbeddingRequest('cohere-v4', ['a'], 'search_document', 512), {
      texts: ['a'],
      input_type: 'search_document',
      embedding_types: ['float'],
      output_dimension: 512,
    });
    rejectsWith(() => toCohereEmbeddingRequest('cohere-v3', ['a'], 'search_document', 512), 'dimensions');
    rejectsWith(() => embeddingTexts({ model: 'm', input: [1, 2, 3] }), 'input');
    assert.deepEqual(embeddingTexts({ model: 'm', input: 'one' }), ['one']);
  });

  it('answers as OpenAI does, floats or little-endian float32 base64', () => {
    const vector = titanVector(recorded.titan.body, 'bedrock');
    const cohere = cohereVectors(recorded.cohere.body, 2, 'bedrock');
    assert.equal(cohere.length, 2);
    assert.deepEqual(cohereVectors({ embeddings: { float: cohere } }, 2, 'bedrock'), cohere);
    assert.throws(() => cohereVectors(recorded.cohere.body, 3, 'bedrock'), GatewayError);
    const floats = toEmbeddingResponse([vector], 3, { model: 'titan', input: 'x' });
    assert.deepEqual(floats, {
      object: 'list',
      data: [{ object: 'embedding', index: 0, embedding: vector }],
      model: 'titan',
      usage: { prompt_tokens: 3, total_tokens: 3 },
    });
    const encoded = toEmbeddingResponse([vector], 3, { model: 'titan', input: 'x', encoding_format: 'base64' });
    const raw = Buffer.from(encoded.data[0].embedding as string, 'base64');
    const decoded = Array.from(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4));
    assert.deepEqual(decoded, vector.map(Math.fround));
  });
});

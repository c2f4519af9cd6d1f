/** OpenAI-format requests and the ERNIE v1 bodies they must become (spec §4.2). */
import type { ChatCompletionRequest } from '../../../common/openai.types.js';
import type { ErnieChatRequest } from '../ernie.types.js';

export interface RequestFixture {
  name: string;
  request: ChatCompletionRequest;
  /** What resolveErnieModel gives for request.model. */
  maxOutputTokens?: number;
  expected: ErnieChatRequest;
}

export const requestFixtures: RequestFixture[] = [
  {
    name: 'system/developer hoisted, leading assistant dropped, same-role turns merged, parameters mapped',
    request: {
      model: 'ERNIE-4.0-8K',
      messages: [
        { role: 'system', content: 'You are helpful.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer briefly.' }] },
        { role: 'assistant', content: 'Hi! How can I help?' },
        { role: 'user', content: 'Hello' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Part one' },
            { type: 'text', text: 'part two' },
          ],
        },
        { role: 'assistant', content: 'Hi there' },
        { role: 'assistant', content: 'Anything else?' },
        { role: 'user', content: 'Tell me about Paris' },
      ],
      temperature: 0,
      top_p: 0.9,
      frequency_penalty: 0.5,
      presence_penalty: 1,
      max_tokens: 5000,
      stop: 'END',
      user: 'u-123',
      response_format: { type: 'json_object' },
      seed: 42,
      stream: true,
      stream_options: { include_usage: true },
    },
    maxOutputTokens: 2048,
    expected: {
      messages: [
        { role: 'user', content: 'Hello\nPart one\npart two' },
        { role: 'assistant', content: 'Hi there\nAnything else?' },
        { role: 'user', content: 'Tell me about Paris' },
      ],
      system: 'You are helpful.\n\nAnswer briefly.',
      temperature: 0.01,
      top_p: 0.9,
      penalty_score: 1.5,
      max_output_tokens: 2048,
      stop: ['END'],
      user_id: 'u-123',
      response_format: 'json_object',
      stream: true,
    },
  },
  {
    name: 'a tool call round trip becomes function_call + a function message',
    request: {
      model: 'ERNIE-3.5-8K',
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '22°C' },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather',
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
          },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      max_completion_tokens: 1,
      temperature: 1.5,
      frequency_penalty: -1,
    },
    maxOutputTokens: 2048,
    expected: {
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: '', function_call: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { role: 'function', name: 'get_weather', content: '22°C' },
      ],
      temperature: 1,
      max_output_tokens: 2,
      functions: [
        {
          name: 'get_weather',
          description: 'Current weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } } },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      stream: false,
    },
  },
  {
    name: 'a custom endpoint (no known maximum) keeps large max tokens; tool_choice none drops the functions',
    request: {
      model: 'my-deployment',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 8000,
      tools: [{ type: 'function', function: { name: 'noop' } }],
      tool_choice: 'none',
      stop: ['a', 'b'],
      response_format: { type: 'text' },
    },
    expected: {
      messages: [{ role: 'user', content: 'Hi' }],
      max_output_tokens: 8000,
      stop: ['a', 'b'],
      response_format: 'text',
      stream: false,
    },
  },
];

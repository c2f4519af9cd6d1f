/** ERNIE v1 non-stream answers (spec §2a) and the OpenAI completions they must become (spec §4.3). */
import type { ChatCompletion } from '../../../common/openai.types.js';
import type { ErnieChatResponse } from '../ernie.types.js';

export interface ResponseFixture {
  name: string;
  response: ErnieChatResponse;
  expected: ChatCompletion;
}

const MODEL = 'ERNIE-3.5-8K';

export const responseFixtures: ResponseFixture[] = [
  {
    name: 'plain answer',
    response: {
      id: 'as-bcmt5ct4iy',
      object: 'chat.completion',
      created: 1680167072,
      result: '你好，我是文心一言。',
      is_truncated: false,
      need_clear_history: false,
      finish_reason: 'normal',
      usage: { prompt_tokens: 7, completion_tokens: 67, total_tokens: 74 },
    },
    expected: {
      id: 'chatcmpl-as-bcmt5ct4iy',
      object: 'chat.completion',
      created: 1680167072,
      model: MODEL,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: '你好，我是文心一言。', refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: 7, completion_tokens: 67, total_tokens: 74 },
    },
  },
  {
    name: 'function call',
    response: {
      id: 'as-fc0001',
      object: 'chat.completion',
      created: 1700000000,
      result: '',
      is_truncated: false,
      need_clear_history: false,
      finish_reason: 'function_call',
      function_call: { name: 'get_weather', arguments: '{"city":"Paris"}', thoughts: 'I should look it up.' },
      usage: { prompt_tokens: 40, completion_tokens: 12, total_tokens: 52 },
    },
    expected: {
      id: 'chatcmpl-as-fc0001',
      object: 'chat.completion',
      created: 1700000000,
      model: MODEL,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            refusal: null,
            tool_calls: [
              {
                id: 'call_as-fc0001',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
              },
            ],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 40, completion_tokens: 12, total_tokens: 52 },
    },
  },
  {
    name: 'unsafe input (need_clear_history) is a content_filter finish',
    response: {
      id: 'as-unsafe1',
      object: 'chat.completion',
      created: 1700000001,
      result: '我无法回答这个问题。',
      is_truncated: false,
      need_clear_history: true,
      ban_round: -1,
      finish_reason: 'normal',
      usage: { prompt_tokens: 9, completion_tokens: 6, total_tokens: 15 },
    },
    expected: {
      id: 'chatcmpl-as-unsafe1',
      object: 'chat.completion',
      created: 1700000001,
      model: MODEL,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: '我无法回答这个问题。', refusal: null },
          logprobs: null,
          finish_reason: 'content_filter',
        },
      ],
      usage: { prompt_tokens: 9, completion_tokens: 6, total_tokens: 15 },
    },
  },
  {
    name: 'truncated without finish_reason is length; a missing total is recomputed',
    response: {
      id: 'as-trunc1',
      object: 'chat.completion',
      created: 1700000002,
      result: 'Once upon a',
      is_truncated: true,
      usage: { prompt_tokens: 3, completion_tokens: 4 },
    },
    expected: {
      id: 'chatcmpl-as-trunc1',
      object: 'chat.completion',
      created: 1700000002,
      model: MODEL,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Once upon a', refusal: null },
          logprobs: null,
          finish_reason: 'length',
        },
      ],
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
    },
  },
  {
    name: 'a safety flag of 2 or more is a content_filter finish',
    response: {
      id: 'as-flag3',
      object: 'chat.completion',
      created: 1700000003,
      result: '',
      flag: 3,
      finish_reason: 'normal',
      usage: { prompt_tokens: 3, completion_tokens: 0, total_tokens: 3 },
    },
    expected: {
      id: 'chatcmpl-as-flag3',
      object: 'chat.completion',
      created: 1700000003,
      model: MODEL,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: '', refusal: null },
          logprobs: null,
          finish_reason: 'content_filter',
        },
      ],
      usage: { prompt_tokens: 3, completion_tokens: 0, total_tokens: 3 },
    },
  },
];

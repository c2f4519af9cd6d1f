/**
 * ERNIE v1 stream bodies as they arrive on the wire (spec §2a "Streaming"): `data: {…}` events, no `[DONE]`,
 * `object` stays "chat.completion", `created` moves, usage repeats and lags until the `is_end` event.
 */

/** The spec's sample, with a middle sentence whose usage lags (completion_tokens 0). */
export const TEXT_STREAM = [
  'data: {"id":"as-vb0m37ti8y","object":"chat.completion","created":1709089502,"sentence_id":0,"is_end":false,"is_truncated":false,"result":"当然可以，","need_clear_history":false,"finish_reason":"normal","usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}',
  'data: {"id":"as-vb0m37ti8y","object":"chat.completion","created":1709089510,"sentence_id":1,"is_end":false,"is_truncated":false,"result":"以下是一个简单的故事。","need_clear_history":false,"finish_reason":"normal","usage":{"prompt_tokens":5,"completion_tokens":0,"total_tokens":5}}',
  'data: {"id":"as-vb0m37ti8y","object":"chat.completion","created":1709089531,"sentence_id":2,"is_end":true,"is_truncated":false,"result":"","need_clear_history":false,"finish_reason":"normal","usage":{"prompt_tokens":5,"completion_tokens":420,"total_tokens":425}}',
  '',
].join('\n\n');

/** Text on the final event, split mid-line across network reads by the test. */
export const TEXT_ON_LAST_EVENT_STREAM = [
  'data: {"id":"as-last1","object":"chat.completion","created":1709000000,"sentence_id":0,"is_end":false,"result":"Hello ","finish_reason":"normal","usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}',
  'data: {"id":"as-last1","object":"chat.completion","created":1709000001,"sentence_id":1,"is_end":true,"is_truncated":false,"result":"world.","finish_reason":"length","usage":{"prompt_tokens":2,"completion_tokens":2,"total_tokens":4}}',
  '',
].join('\n\n');

export const FUNCTION_CALL_STREAM = [
  'data: {"id":"as-fcs1","object":"chat.completion","created":1709000100,"sentence_id":0,"is_end":true,"is_truncated":false,"result":"","need_clear_history":false,"finish_reason":"function_call","function_call":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}","thoughts":"look it up"},"usage":{"prompt_tokens":30,"completion_tokens":9,"total_tokens":39}}',
  '',
].join('\n\n');

/** The connection closes after one sentence: no `is_end`. */
export const TRUNCATED_STREAM = TEXT_STREAM.split('\n\n')[0] + '\n\n';

/** An error body in the middle of a stream. */
export const MID_STREAM_ERROR = [
  TEXT_STREAM.split('\n\n')[0],
  'data: {"error_code":336100,"error_msg":"try again later"}',
  '',
].join('\n\n');

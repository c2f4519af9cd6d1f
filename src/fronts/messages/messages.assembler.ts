/**
 * Folds a Messages stream's events back into the Message they make (as the SDK's MessageStream does), for the cache:
 * blocks by index with their text, thinking, signature and tool input, then the stop reason and the cumulative
 * usage of message_delta. https://docs.anthropic.com/en/api/messages-streaming
 */
import type { AnthropicMessage, MessagesStreamEvent } from './messages.types.js';

export class MessageAssembler {
  private message: AnthropicMessage | undefined;
  private readonly toolJson = new Map<number, string>();
  private stopped = false;

  add(event: MessagesStreamEvent): void {
    switch (event.type) {
      case 'message_start':
        this.message = { ...event.message, content: [], usage: { ...event.message.usage } };
        return;
      case 'content_block_start':
        if (this.message) this.message.content[event.index] = { ...event.content_block };
        return;
      case 'content_block_delta': {
        const block = this.message?.content[event.index];
        if (!block) return;
        const delta = event.delta;
        if (delta.type === 'text_delta' && block.type === 'text') block.text += delta.text;
        else if (delta.type === 'thinking_delta' && block.type === 'thinking') block.thinking += delta.thinking;
        else if (delta.type === 'signature_delta' && block.type === 'thinking') block.signature = delta.signature;
        else if (delta.type === 'input_json_delta') {
          this.toolJson.set(event.index, (this.toolJson.get(event.index) ?? '') + delta.partial_json);
        }
        return;
      }
      case 'content_block_stop': {
        const block = this.message?.content[event.index];
        const json = this.toolJson.get(event.index);
        if (block?.type === 'tool_use' && json !== undefined && json !== '') {
          try {
            block.input = JSON.parse(json) as Record<string, unknown>;
          } catch {
            // The upstream's own invalid tool input: kept as Anthropic documents it.
            block.input = { INVALID_JSON: json };
          }
        }
        return;
      }
      case 'message_delta': {
        const message = this.message;
        if (!message) return;
        message.stop_reason = event.delta.stop_reason;
        message.stop_sequence = event.delta.stop_sequence;
        const usage = event.usage;
        message.usage.output_tokens = usage.output_tokens;
        if (usage.input_tokens !== null && usage.input_tokens !== undefined)
          message.usage.input_tokens = usage.input_tokens;
        if (usage.cache_read_input_tokens != null)
          message.usage.cache_read_input_tokens = usage.cache_read_input_tokens;
        if (usage.cache_creation_input_tokens != null) {
          message.usage.cache_creation_input_tokens = usage.cache_creation_input_tokens;
        }
        return;
      }
      case 'message_stop':
        this.stopped = true;
        return;
      default:
        return;
    }
  }

  /** The whole Message once message_stop came, else undefined. */
  result(): AnthropicMessage | undefined {
    return this.stopped ? this.message : undefined;
  }
}

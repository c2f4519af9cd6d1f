/**
 * The binary AWS event stream of ConverseStream (`application/vnd.amazon.eventstream`), read incrementally: the
 * bytes are cut into messages by their total-length prelude however the reads fall (a message split across chunks,
 * several in one chunk), and each message is decoded and checked (both CRCs) by AWS's own codec. Pulling from the
 * body one chunk at a time keeps the transport's backpressure; a consumer that stops returns the body.
 *
 * Framing (prelude = total length, headers length, prelude CRC; then headers, payload, message CRC):
 * https://docs.aws.amazon.com/transcribe/latest/dg/event-stream.html and
 * https://docs.aws.amazon.com/AmazonS3/latest/API/RESTSelectObjectAppendix.html. Message types as the SDK reads them
 * (`:message-type` `event` with `:event-type`, `exception` with `:exception-type`, `error` with `:error-code` and
 * `:error-message`): smithy-lang/smithy-typescript `eventstream-serde-universal/getUnmarshalledStream.ts`.
 */
import { EventStreamCodec } from '@smithy/eventstream-codec';
import type { MessageHeaders } from '@smithy/types';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';

/** One decoded message: its kind, its event or exception name, and its JSON payload as text. */
export interface EventStreamMessage {
  messageType: 'event' | 'exception' | 'error';
  /** `:event-type` of an event, `:exception-type` of an exception, `:error-code` of an error. */
  type: string;
  /** The payload as UTF-8 text; for an `error` message, its `:error-message`. */
  payload: string;
}

/** Prelude (8) + prelude CRC (4) + message CRC (4). */
const MIN_MESSAGE_BYTES = 16;
/** No Converse event comes near this; a larger length means the stream is not an event stream. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export class EventStreamFormatError extends Error {}

const codec = new EventStreamCodec(toUtf8, fromUtf8);

/**
 * The messages of an event-stream body. A body that ends inside a message, a length out of bounds or a failed CRC
 * throws EventStreamFormatError; transport failures are thrown as they came.
 */
export async function* readEventStreamMessages(body: AsyncIterable<Buffer>): AsyncGenerator<EventStreamMessage> {
  // Bytes of an incomplete message, kept as the chunks they came in until the whole message is there.
  const parts: Buffer[] = [];
  let partsLength = 0;
  for await (const chunk of body) {
    let data: Buffer;
    if (partsLength === 0) {
      data = chunk;
    } else {
      parts.push(chunk);
      partsLength += chunk.length;
      if (partsLength < 4) continue;
      if (parts[0].length < 4) parts.splice(0, parts.length, Buffer.concat(parts, partsLength));
      if (partsLength < messageLength(parts[0], 0)) continue;
      data = Buffer.concat(parts, partsLength);
      parts.length = 0;
      partsLength = 0;
    }
    let offset = 0;
    while (data.length - offset >= 4) {
      const length = messageLength(data, offset);
      if (data.length - offset < length) break;
      yield decodeMessage(data.subarray(offset, offset + length));
      offset += length;
    }
    if (offset < data.length) {
      parts.push(offset === 0 ? data : data.subarray(offset));
      partsLength = data.length - offset;
    }
  }
  if (partsLength > 0) {
    throw new EventStreamFormatError(`the event stream ended inside a message (${partsLength} bytes left)`);
  }
}

function messageLength(data: Buffer, offset: number): number {
  const length = data.readUInt32BE(offset);
  if (length < MIN_MESSAGE_BYTES || length > MAX_MESSAGE_BYTES) {
    throw new EventStreamFormatError(`an event stream message claims ${length} bytes`);
  }
  return length;
}

function decodeMessage(frame: Buffer): EventStreamMessage {
  let headers: MessageHeaders;
  let body: Uint8Array;
  try {
    ({ headers, body } = codec.decode(frame));
  } catch (error) {
    throw new EventStreamFormatError(`an event stream message is corrupt (${(error as Error).message})`);
  }
  const messageType = stringHeader(headers, ':message-type');
  if (messageType === 'event') {
    return { messageType, type: stringHeader(headers, ':event-type') ?? '', payload: utf8(body) };
  }
  if (messageType === 'exception') {
    return { messageType, type: stringHeader(headers, ':exception-type') ?? '', payload: utf8(body) };
  }
  if (messageType === 'error') {
    return {
      messageType,
      type: stringHeader(headers, ':error-code') ?? '',
      payload: stringHeader(headers, ':error-message') ?? '',
    };
  }
  throw new EventStreamFormatError(`an event stream message has the unknown type '${String(messageType)}'`);
}

function stringHeader(headers: MessageHeaders, name: string): string | undefined {
  const header = headers[name];
  return header?.type === 'string' ? header.value : undefined;
}

/** The payload is a view into the chunk it arrived in; decoded without a copy. */
function utf8(body: Uint8Array): string {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
}

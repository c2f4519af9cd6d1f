/**
 * Incremental parser for `text/event-stream` (WHATWG HTML, "event stream interpretation"): events may be split
 * across network chunks anywhere, even inside a UTF-8 sequence or between CR and LF.
 */
import { StringDecoder } from 'node:string_decoder';

export interface SseEvent {
  event?: string;
  data: string;
  id?: string;
}

export class SseParser {
  /** Made when a chunk ends inside a UTF-8 sequence; until then chunks are decoded whole. */
  private decoder: StringDecoder | undefined;
  private buffer = '';
  private dataLines: string[] = [];
  private eventName: string | undefined;
  private eventId: string | undefined;
  /** A chunk ended in CR: a following LF belongs to the same line break. */
  private pendingCr = false;

  /** Feeds bytes; returns the events completed by them. */
  push(chunk: Buffer | string): SseEvent[] {
    let text: string;
    if (typeof chunk === 'string') text = chunk;
    // A chunk that ends in an ASCII byte splits no UTF-8 sequence at its end (and none is pending without a decoder).
    else if (this.decoder === undefined && (chunk.length === 0 || chunk[chunk.length - 1] < 0x80))
      text = chunk.toString('utf8');
    else text = (this.decoder ??= new StringDecoder('utf8')).write(chunk);
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    const events: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const lf = this.buffer.indexOf('\n', start);
      const cr = this.buffer.indexOf('\r', start);
      if (lf === -1 && cr === -1) break;
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        if (cr + 1 === this.buffer.length) {
          this.pendingCr = true;
          next = cr + 1;
        } else {
          next = this.buffer[cr + 1] === '\n' ? cr + 2 : cr + 1;
        }
      } else {
        end = lf;
        next = lf + 1;
      }
      const event = this.line(this.buffer.slice(start, end));
      if (event) events.push(event);
      start = next;
    }
    this.buffer = start === 0 ? this.buffer : this.buffer.slice(start);
    return events;
  }

  /**
   * Call at end of input. Unlike a browser, a final event whose blank line never came is still delivered:
   * some upstreams close the connection right after `data: [DONE]`.
   */
  end(): SseEvent[] {
    const rest = this.buffer + (this.decoder?.end() ?? '');
    this.buffer = '';
    const events: SseEvent[] = [];
    if (rest !== '') {
      const event = this.line(rest);
      if (event) events.push(event);
    }
    const last = this.dispatch();
    if (last) events.push(last);
    return events;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.charCodeAt(0) === 58 /* ':' */) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32 /* ' ' */) value = value.slice(1);
    switch (field) {
      case 'data':
        this.dataLines.push(value);
        break;
      case 'event':
        this.eventName = value;
        break;
      case 'id':
        this.eventId = value;
        break;
      default:
        break;
    }
    return undefined;
  }

  private dispatch(): SseEvent | undefined {
    if (this.dataLines.length === 0) {
      this.eventName = undefined;
      return undefined;
    }
    const event: SseEvent = { data: this.dataLines.length === 1 ? this.dataLines[0] : this.dataLines.join('\n') };
    if (this.eventName !== undefined) event.event = this.eventName;
    if (this.eventId !== undefined) event.id = this.eventId;
    this.dataLines = [];
    this.eventName = undefined;
    return event;
  }
}

/**
 * Reads SSE events from a byte stream as they arrive. A consumer that stops early ends the iteration of `body`:
 * an upstream BodyStream then drains the rest so its connection is reused (see body-stream.ts).
 */
export async function* readSseEvents(body: AsyncIterable<Buffer | string>): AsyncGenerator<SseEvent> {
  const parser = new SseParser();
  for await (const chunk of body) {
    const events = parser.push(chunk);
    for (let i = 0; i < events.length; i++) yield events[i];
  }
  yield* parser.end();
}

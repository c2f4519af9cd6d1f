/**
 * Conventions shared by the OpenAI, OpenAI-compatible and Azure OpenAI simulators: the SIM_* directives a test
 * writes in the last user turn, word-based token counting, automatic prompt caching by remembered prefixes,
 * reasoning-model detection and a minimal JSON-schema instance for structured outputs.
 */
import { createHash } from 'node:crypto';
import { isArray, isObject } from './sim-json.js';

/** Directives read from the text of the last user turn, one per line. */
export interface SimDirectives {
  /** `SIM_TOOL <tool-name> <json-object>`: call that tool with exactly that argument text. */
  tool?: { name: string; arguments: string };
  /** `SIM_TEXT <text>`: answer exactly that text. */
  text?: string;
  /**
   * `SIM_FAIL [message]`: the model fails: a 500 when not streaming; chat streams break off with an error event,
   * Responses streams end with response.failed.
   */
  fail?: string;
  /** `SIM_FILTER_PROMPT`: Azure's prompt filter refuses the request (400 content_filter). */
  filterPrompt: boolean;
  /** `SIM_FILTER_OUTPUT`: Azure's output filter stops the answer (finish_reason content_filter). */
  filterOutput: boolean;
}

export function parseDirectives(text: string): SimDirectives {
  const directives: SimDirectives = { filterPrompt: false, filterOutput: false };
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    const tool = /^SIM_TOOL\s+(\S+)\s+(\{.*\})$/.exec(line);
    if (tool && directives.tool === undefined && isJsonObject(tool[2])) {
      directives.tool = { name: tool[1], arguments: tool[2] };
    }
    const answer = /^SIM_TEXT (.*)$/.exec(line);
    if (answer && directives.text === undefined) directives.text = answer[1];
    const fail = /^SIM_FAIL(?:\s+(.*))?$/.exec(line);
    if (fail && directives.fail === undefined) directives.fail = fail[1] ?? 'The model failed to generate a response.';
    if (line === 'SIM_FILTER_PROMPT') directives.filterPrompt = true;
    if (line === 'SIM_FILTER_OUTPUT') directives.filterOutput = true;
  }
  return directives;
}

function isJsonObject(text: string): boolean {
  try {
    return isObject(JSON.parse(text));
  } catch {
    return false;
  }
}

export function countWords(text: string): number {
  return text.match(/\S+/g)?.length ?? 0;
}

/** Word-sized pieces whose concatenation is exactly `text` (leading whitespace stays with the first piece). */
export function splitIntoPieces(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? (text === '' ? [] : [text]);
}

export function splitEvery(text: string, size: number): string[] {
  const parts: string[] = [];
  for (let offset = 0; offset < text.length; offset += size) parts.push(text.slice(offset, offset + size));
  return parts;
}

/** A deterministic hex id of `length` characters, unique per simulator name and counter. */
export function simId(seed: string, length: number): string {
  let hex = '';
  for (let block = 0; hex.length < length; block++) {
    hex += createHash('sha256').update(`${block}:${seed}`).digest('hex');
  }
  return hex.slice(0, length);
}

/**
 * Reasoning models by name: OpenAI's o-series (`o1`, `o3-mini`, `o4-mini`), GPT-5, and any name with `reason`,
 * `thinking`, `qwq` or an `-r1` suffix (DeepSeek R1, `deepseek-reasoner`, `*-reasoning` test models).
 */
export function isReasoningModelName(model: string): boolean {
  return /^o\d|^gpt-5|reason|thinking|qwq|-r1\b/i.test(model);
}

const EFFORT_FACTORS: Record<string, number> = { minimal: 1, low: 1, medium: 2, high: 4, xhigh: 6, max: 8 };

/** The reasoning a model does before answering: its summary text and how many reasoning tokens it used. */
export interface Reasoning {
  summary: string;
  tokens: number;
}

/** Deterministic reasoning for a turn; undefined when the effort is `none`. */
export function reasoningFor(subject: string, effort: string | undefined): Reasoning | undefined {
  if (effort === 'none') return undefined;
  const words = subject.match(/\S+/g)?.slice(0, 12).join(' ') ?? '';
  const summary = `Considering the request: ${words}`.trim();
  return { summary, tokens: countWords(summary) * (EFFORT_FACTORS[effort ?? 'medium'] ?? 2) };
}

/**
 * Automatic prompt caching as the simulators model it: each instance remembers the prompt prefixes it served (a
 * rolling hash of the segments before the last user turn); a later request starting with a remembered prefix
 * reads that prefix's tokens from the cache.
 */
export class PromptPrefixCache {
  private readonly served = new Map<string, number>();

  constructor(
    private readonly minTokens = 0,
    private readonly capacity = 10_000,
  ) {}

  /**
   * Returns the cached tokens of the longest remembered prefix among `segments.slice(0, k)`, k ≤ `boundary`, and
   * remembers `segments.slice(0, boundary)`. Segment keys must identify the segment's content.
   */
  lookupAndRemember(scope: string, segments: Array<{ key: string; tokens: number }>, boundary: number): number {
    let hash = createHash('sha256').update(scope).digest('hex');
    let tokens = 0;
    let cached = 0;
    for (let index = 0; index < boundary && index < segments.length; index++) {
      hash = createHash('sha256').update(hash).update(segments[index].key).digest('hex');
      tokens += segments[index].tokens;
      const remembered = this.served.get(hash);
      if (remembered !== undefined) cached = remembered;
    }
    if (boundary > 0 && tokens >= this.minTokens && !this.served.has(hash)) {
      if (this.served.size >= this.capacity) this.served.delete(this.served.keys().next().value as string);
      this.served.set(hash, tokens);
    }
    return cached;
  }

  clear(): void {
    this.served.clear();
  }
}

/**
 * The smallest instance that satisfies a JSON schema, for answering structured-output requests: required
 * properties only, the first enum value or alternative, minimum lengths and counts.
 */
export function minimalJsonInstance(schema: unknown, root: unknown = schema, depth = 0): unknown {
  if (!isObject(schema) || depth > 32) return null;
  if (typeof schema.$ref === 'string') return minimalJsonInstance(resolveRef(root, schema.$ref), root, depth + 1);
  if ('const' in schema) return schema.const;
  if (isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  for (const keyword of ['anyOf', 'oneOf', 'allOf'] as const) {
    const options = schema[keyword];
    if (isArray(options) && options.length > 0) {
      return keyword === 'allOf'
        ? Object.assign({}, ...options.map((option) => minimalJsonInstance(option, root, depth + 1)))
        : minimalJsonInstance(options[0], root, depth + 1);
    }
  }
  const type = isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type ?? (isObject(schema.properties) ? 'object' : undefined)) {
    case 'object': {
      const properties = isObject(schema.properties) ? schema.properties : {};
      const required = isArray(schema.required)
        ? schema.required.filter((name): name is string => typeof name === 'string')
        : [];
      return Object.fromEntries(
        required.map((name) => [name, minimalJsonInstance(properties[name] ?? {}, root, depth + 1)]),
      );
    }
    case 'array': {
      const count = typeof schema.minItems === 'number' ? schema.minItems : 0;
      return Array.from({ length: count }, () => minimalJsonInstance(schema.items ?? {}, root, depth + 1));
    }
    case 'string':
      return 'a'.repeat(typeof schema.minLength === 'number' ? schema.minLength : 0);
    case 'integer':
    case 'number':
      if (typeof schema.minimum === 'number') return schema.minimum;
      if (typeof schema.exclusiveMinimum === 'number') return Math.floor(schema.exclusiveMinimum) + 1;
      return 0;
    case 'boolean':
      return false;
    default:
      return null;
  }
}

function resolveRef(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return {};
  return ref
    .slice(1)
    .split('/')
    .filter(Boolean)
    .reduce<unknown>(
      (node, segment) => (isObject(node) ? node[segment.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined),
      root,
    );
}

/** A tool a request offers the model, whatever the wire format. */
export interface ToolOffer {
  name: string;
  kind: 'function' | 'web_search';
  /** Responses API namespace tools group functions under a name. */
  namespace?: string;
}

export type ToolChoiceMode =
  { mode: 'auto' | 'none' | 'required' } | { mode: 'function'; name: string } | { mode: 'web_search' };

/** What the planner needs to know about a request, whatever the wire format. */
export interface PlanInput {
  model: string;
  /** The last turn is a user message, so directives and tools apply. */
  lastIsUser: boolean;
  /** The last turn is a tool result with this output. */
  toolOutput?: string;
  /** Text of the last user turn. */
  userText: string;
  tools: ToolOffer[];
  toolChoice: ToolChoiceMode;
  /** JSON schema of a structured-output request. */
  jsonSchema?: unknown;
}

export type AnswerPlan =
  | { kind: 'text'; text: string }
  | { kind: 'tool'; name: string; arguments: string; namespace?: string }
  | { kind: 'web_search'; query: string; text: string }
  | { kind: 'fail'; message: string };

export const MAX_ECHOED_CHARS = 200;
/** Arguments of a tool call the model makes without a SIM_TOOL directive. */
export const DEFAULT_TOOL_ARGUMENTS = '{"city":"Paris"}';

/** Decides the model's answer: tool result echo, directives, tool calls, web search, structured output, echo. */
export function planAnswer(input: PlanInput): AnswerPlan {
  if (input.toolOutput !== undefined) {
    return { kind: 'text', text: `Tool said: ${input.toolOutput.slice(0, MAX_ECHOED_CHARS)}` };
  }
  const directives = input.lastIsUser ? parseDirectives(input.userText) : undefined;
  if (directives?.fail !== undefined) return { kind: 'fail', message: directives.fail };
  if (directives?.text !== undefined) return { kind: 'text', text: directives.text };
  const functions = input.tools.filter((tool) => tool.kind === 'function');
  const choice = input.toolChoice;
  if (input.lastIsUser && choice.mode !== 'none') {
    const requested = directives?.tool && functions.find((tool) => tool.name === directives.tool?.name);
    if (requested && directives?.tool) return toolPlan(requested, directives.tool.arguments);
    const forced = choice.mode === 'function' ? functions.find((tool) => tool.name === choice.name) : undefined;
    if (forced) return toolPlan(forced, DEFAULT_TOOL_ARGUMENTS);
    const searches = input.tools.some((tool) => tool.kind === 'web_search');
    if (searches && (choice.mode === 'web_search' || functions.length === 0)) {
      const query = input.userText.trim().slice(0, MAX_ECHOED_CHARS);
      return { kind: 'web_search', query, text: `Search results for: ${query}` };
    }
    if (functions.length > 0) return toolPlan(functions[0], DEFAULT_TOOL_ARGUMENTS);
  }
  if (input.jsonSchema !== undefined)
    return { kind: 'text', text: JSON.stringify(minimalJsonInstance(input.jsonSchema)) };
  return { kind: 'text', text: `Hello from ${input.model}: ${input.userText.slice(0, MAX_ECHOED_CHARS)}` };
}

function toolPlan(tool: ToolOffer, args: string): AnswerPlan {
  return {
    kind: 'tool',
    name: tool.name,
    arguments: args,
    ...(tool.namespace !== undefined && { namespace: tool.namespace }),
  };
}

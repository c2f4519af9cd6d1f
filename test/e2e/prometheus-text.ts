/** Reads Prometheus text exposition into samples keyed by `name{label="value",...}` with labels sorted. */
export type Samples = Map<string, number>;

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseSamples(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    samples.set(sampleKey(match[1], labelsOf(match[2] ?? '')), Number(match[3]));
  }
  return samples;
}

export function sampleKey(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.keys(labels)
    .sort()
    .map((key) => `${key}="${labels[key]}"`);
  return parts.length === 0 ? name : `${name}{${parts.join(',')}}`;
}

function labelsOf(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const match of text.matchAll(LABEL)) labels[match[1]] = match[2];
  return labels;
}

export async function scrape(
  gatewayUrl: string,
): Promise<{ text: string; samples: Samples; contentType: string | null }> {
  const response = await fetch(`${gatewayUrl}/metrics`);
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
  const text = await response.text();
  return { text, samples: parseSamples(text), contentType: response.headers.get('content-type') };
}

/** The value of one sample; throws when the series is not exported. */
export function valueOf(samples: Samples, name: string, labels: Record<string, string> = {}): number {
  const value = samples.get(sampleKey(name, labels));
  if (value === undefined) throw new Error(`no sample ${sampleKey(name, labels)}`);
  return value;
}

/** Where a spec's recorded fixtures are: its `__fixtures__` folder in the source tree (compiled specs run from dist). */
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The `__fixtures__/` folder beside the spec whose `import.meta.url` is given, with a trailing separator. */
export function fixturesDir(specUrl: string): string {
  return fileURLToPath(new URL('./__fixtures__/', specUrl)).replace(`${sep}dist${sep}src${sep}`, `${sep}src${sep}`);
}

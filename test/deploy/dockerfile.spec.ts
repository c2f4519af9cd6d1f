/**
 * Dockerfile and .dockerignore: stages, base images, non-root exec-form start, labels, the port and entry point
 * the code uses, a build context that holds what the stages copy, and runtime imports that `npm ci --omit=dev`
 * installs. `docker build` runs only where a Docker engine answers.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ANTHROPIC_SIMULATOR, OPENAI_SIMULATOR } from '../../scripts/run-simulators.js';
import {
  type DockerStage,
  dockerUnavailableReason,
  execForm,
  GATEWAY_FACTS,
  lastInstruction,
  listFiles,
  outputOf,
  parseDockerfile,
  readText,
  REPO_ROOT,
  repoPath,
  run,
  stageNamed,
} from './deploy-files.js';

const dockerfile = parseDockerfile(readText('Dockerfile'));
const packageJson = JSON.parse(readText('package.json')) as {
  version: string;
  engines: { node: string };
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
};

function copies(stage: DockerStage): Array<{ from?: string; sources: string[]; target: string }> {
  return stage.instructions
    .filter((i) => i.keyword === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      return { from, sources: paths.slice(0, -1), target: paths[paths.length - 1] };
    });
}

function nodeMajorOf(image: string): number {
  const resolved = image.replace('${NODE_MAJOR}', dockerfile.globalArgs.get('NODE_MAJOR') ?? '');
  const match = /^node:(\d+)-|^gcr\.io\/distroless\/nodejs(\d+)-/.exec(resolved);
  assert.ok(match, `not a Node image: ${image}`);
  return Number(match[1] ?? match[2]);
}

describe('Dockerfile', () => {
  const names = dockerfile.stages.map((s) => s.name);
  const runtime = stageNamed(dockerfile, 'runtime');
  const simulators = stageNamed(dockerfile, 'simulators');

  it('has the deps → build → prod-deps → simulators → runtime stages, the gateway last (the default target)', () => {
    for (const name of ['deps', 'build', 'prod-deps', 'simulators', 'runtime']) assert.ok(names.includes(name), name);
    assert.ok(names.indexOf('deps') < names.indexOf('build'));
    assert.equal(names.at(-1), 'runtime');
  });

  it('builds and runs on one supported Node LTS major that satisfies package.json engines', () => {
    const majors = dockerfile.stages
      .map((s) => s.base)
      .filter((base) => base.startsWith('node:') || base.includes('distroless/nodejs'))
      .map(nodeMajorOf);
    assert.ok(majors.length >= 3);
    assert.equal(new Set(majors).size, 1, `one Node major everywhere: ${majors.join(', ')}`);
    const major = majors[0];
    assert.equal(major % 2, 0, 'even Node majors are the LTS lines');
    assert.ok(major >= 22, 'Node 20 leaves maintenance in April 2026');
    const minimum = Number(/>=\s*(\d+)/.exec(packageJson.engines.node)?.[1]);
    assert.ok(major >= minimum, `engines.node ${packageJson.engines.node}`);
    assert.match(runtime.base, /^gcr\.io\/distroless\/nodejs\$\{NODE_MAJOR\}-debian12:nonroot$/);
  });

  it('installs dependencies from the lockfile before copying sources, and only production ones for the runtime', () => {
    const deps = stageNamed(dockerfile, 'deps');
    assert.deepEqual(copies(deps)[0].sources, ['package.json', 'package-lock.json']);
    assert.ok(deps.instructions.some((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args)));
    const build = stageNamed(dockerfile, 'build');
    assert.equal(build.base, 'deps');
    assert.ok(build.instructions.some((i) => i.keyword === 'RUN' && i.args === 'npm run build'));
    const prodDeps = stageNamed(dockerfile, 'prod-deps');
    assert.ok(prodDeps.instructions.some((i) => i.keyword === 'RUN' && /\bnpm ci --omit=dev\b/.test(i.args)));
  });

  it('ships only dist/ (the gateway and the admin UI), production node_modules, package.json and config/ in the runtime image', () => {
    const copied = copies(runtime).map((c) => `${c.from ?? 'context'}:${c.sources.join(',')}`);
    assert.deepEqual(copied.sort(), [
      'build:/app/dist/src',
      'build:/app/dist/ui',
      'context:config',
      'context:package.json',
      'prod-deps:/app/node_modules',
      'tini:/usr/bin/tini-static',
    ]);
  });

  it('starts node on the compiled entry point under tini, exec form, as a non-root user', () => {
    for (const stage of [runtime, simulators]) {
      const user = lastInstruction(stage, 'USER')?.args ?? '';
      assert.match(user, /^[1-9]\d*:[1-9]\d*$/, `${stage.name}: numeric non-root USER (runAsNonRoot needs a number)`);
      const entrypoint = execForm(lastInstruction(stage, 'ENTRYPOINT')?.args ?? '');
      assert.deepEqual(
        entrypoint,
        ['/usr/bin/tini', '--', '/nodejs/bin/node'],
        `${stage.name}: tini as PID 1, node its child`,
      );
      const cmd = execForm(lastInstruction(stage, 'CMD')?.args ?? '');
      assert.ok(cmd, `${stage.name}: CMD in exec form`);
      assert.ok(!cmd.some((word) => /^(npm|sh|bash)$|^-c$/.test(word)), `${stage.name}: no npm or shell in CMD`);
    }
    const runtimeCmd = execForm(lastInstruction(runtime, 'CMD')!.args)!;
    const main = runtimeCmd.at(-1)!;
    assert.equal(packageJson.scripts.start, `node ${runtimeCmd.join(' ')}`, 'the image runs what `npm start` runs');
    assert.ok(
      existsSync(repoPath(main.replace(/^dist\//, '').replace(/\.js$/, '.ts'))),
      `${main} is compiled from a source file`,
    );
    assert.deepEqual(execForm(lastInstruction(simulators, 'CMD')!.args), ['dist/scripts/run-simulators.js']);
  });

  it('exposes the port the gateway listens on by default, and the simulator ports', () => {
    assert.equal(lastInstruction(runtime, 'EXPOSE')?.args, String(GATEWAY_FACTS.port));
    assert.equal(lastInstruction(simulators, 'EXPOSE')?.args, `${OPENAI_SIMULATOR.port} ${ANTHROPIC_SIMULATOR.port}`);
    assert.ok(simulators.instructions.some((i) => i.keyword === 'ENV' && i.args === 'SIM_HOST=0.0.0.0'));
  });

  it('labels the image with OCI annotations', () => {
    const labels = runtime.instructions
      .filter((i) => i.keyword === 'LABEL')
      .map((i) => i.args)
      .join(' ');
    for (const key of ['title', 'description', 'version', 'revision', 'created', 'base.name']) {
      assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${key.replace('.', '\\.')}=`), key);
    }
  });
});

/** Docker's .dockerignore semantics: last matching pattern wins; a pattern also matches everything below a match. */
function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!');
      const pattern = (negate ? line.slice(1) : line).replace(/^\/+|\/+$/g, '');
      const source = pattern
        .split(/(\*\*\/|\*\*|\*|\?)/)
        .map((part) => {
          if (part === '**/') return '(?:.*/)?';
          if (part === '**') return '.*';
          if (part === '*') return '[^/]*';
          if (part === '?') return '[^/]';
          return part.replace(/[.+^${}()|[\]\\]/g, '\\$&');
        })
        .join('');
      return { negate, regex: new RegExp(`^${source}$`) };
    });
  return (path) => {
    const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) if (prefixes.some((p) => rule.regex.test(p))) excluded = !rule.negate;
    return excluded;
  };
}

describe('.dockerignore', () => {
  const excluded = dockerignore(readText('.dockerignore'));

  it('keeps every file the Dockerfile copies from the build context', () => {
    for (const stage of dockerfile.stages) {
      for (const copy of copies(stage).filter((c) => c.from === undefined)) {
        for (const source of copy.sources) {
          assert.ok(existsSync(repoPath(source)), `${stage.name}: COPY ${source} exists`);
          assert.ok(!excluded(source), `${stage.name}: COPY ${source} is in the build context`);
        }
      }
    }
  });

  it('keeps the sources that are compiled, and leaves out tests, fixtures, build output and secrets', () => {
    const compiled = [...listFiles('src'), ...listFiles('test/simulators')].filter(
      (f) => f.endsWith('.ts') && !f.endsWith('.spec.ts') && !f.includes('__fixtures__'),
    );
    for (const file of compiled) assert.ok(!excluded(file), file);
    for (const file of [
      'node_modules/yaml/package.json',
      'dist/src/main.js',
      '.git/HEAD',
      '.env',
      'src/config/config-loader.spec.ts',
      'src/providers/anthropic/__fixtures__/response-text.json',
      'test/e2e/harness.ts',
      'scripts/demo.ts',
      'helm/llm-gateway/values.yaml',
      'bench/results/run.json',
    ]) {
      assert.ok(excluded(file), `${file} stays out of the build context`);
    }
  });
});

const IMPORT_PATTERNS = [
  /(?:^|[;\n])\s*(?:import|export)\s(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]/g,
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
];

/** Follows the relative imports of compiled ESM files; returns the files reached and the bare specifiers used. */
function importGraph(entry: string): { files: string[]; bare: Set<string> } {
  const files = new Set<string>();
  const bare = new Set<string>();
  const pending = [resolve(REPO_ROOT, entry)];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const pattern of IMPORT_PATTERNS) {
      for (const match of text.matchAll(pattern)) {
        const specifier = match[1];
        if (specifier.startsWith('.')) pending.push(join(dirname(file), specifier));
        else bare.add(specifier);
      }
    }
  }
  return { files: [...files].map((f) => relative(REPO_ROOT, f)), bare };
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function isBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0]);
}

describe('what the images run (compiled output)', () => {
  it('the gateway imports only packages that `npm ci --omit=dev` installs, from files under dist/src', () => {
    const graph = importGraph('dist/src/main.js');
    const outside = graph.files.filter((f) => !f.startsWith('dist/src/'));
    assert.deepEqual(outside, [], 'the runtime image copies only dist/src');
    const missing = [...graph.bare]
      .filter((s) => !isBuiltin(s))
      .map(packageName)
      .filter((name) => !(name in packageJson.dependencies));
    assert.deepEqual([...new Set(missing)], [], 'imported at run time but not a production dependency');
  });

  it('the simulators import only node: built-ins, from the files their image copies', () => {
    const graph = importGraph('dist/scripts/run-simulators.js');
    for (const file of graph.files) {
      assert.ok(file === 'dist/scripts/run-simulators.js' || file.startsWith('dist/test/simulators/'), file);
    }
    assert.deepEqual(
      [...graph.bare].filter((s) => !isBuiltin(s)),
      [],
      'the simulators image has no node_modules',
    );
  });
});

describe('docker build', { timeout: 30 * 60_000 }, () => {
  const unavailable = dockerUnavailableReason();
  for (const target of ['runtime', 'simulators']) {
    it(`builds the ${target} target`, (t) => {
      if (unavailable) {
        t.skip(unavailable);
        return;
      }
      const result = run('docker', ['build', '--target', target, '--tag', `llm-gateway-${target}:deploy-check`, '.'], {
        timeout: 25 * 60_000,
      });
      assert.equal(result.status, 0, outputOf(result));
    });
  }
});

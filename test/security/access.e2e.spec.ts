/**
 * Access control attacked the way a hostile client would: every route, every way of writing its path (percent-encoded
 * letters and slashes, double slashes, dot segments, case, trailing characters, `;` parameters), without a key and with
 * a key that is not an admin key. Access is decided on the route that matched, so no spelling may reach a protected
 * handler; and a route with no declared access level stops start-up.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import Fastify from 'fastify';
import { installRequestGates, RouteTable } from '../../src/http/request-gates.js';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { type RunningGateway, startGateway } from '../e2e/harness.js';
import { rawRequest } from './raw-http.js';

const TEAM_KEY = 'sk-gw-team-access-0123456789';
const ADMIN_KEY = 'sk-gw-admin-access-0123456789';

/** The public routes, all of them: a new public route must be added here on purpose. */
const PUBLIC_ROUTES = [
  'DELETE /ui/api/session',
  'GET /health/live',
  'GET /health/ready',
  'GET /metrics',
  'GET /ui',
  'GET /ui/',
  'GET /ui/*',
  'GET /ui/api/session',
  'HEAD /health/live',
  'HEAD /health/ready',
  'HEAD /metrics',
  'HEAD /ui',
  'HEAD /ui/',
  'HEAD /ui/*',
  'HEAD /ui/api/session',
];

/** A concrete path for a route pattern (parameters and wildcards filled in). */
function concretePath(url: string): string {
  return url.replace(/:[A-Za-z]+/g, 'team').replace(/\*$/, 'gpt-test');
}

const percent = (char: string, upper: boolean) => {
  const hex = char.charCodeAt(0).toString(16).padStart(2, '0');
  return `%${upper ? hex.toUpperCase() : hex}`;
};

/** One way of spelling `path`, built from independent tricks. */
const spelling = (path: string) =>
  fc
    .record({
      encodeMask: fc.array(fc.boolean(), { minLength: path.length, maxLength: path.length }),
      upperHex: fc.boolean(),
      caseMask: fc.array(fc.boolean(), { minLength: path.length, maxLength: path.length }),
      doubleSlashAt: fc.option(fc.nat({ max: path.length - 1 }), { nil: undefined }),
      dotSegment: fc.constantFrom('', '/.', '/x/..', '/%2e', '/%2E%2E', '/.%2e'),
      parameter: fc.constantFrom('', ';', ';x=y', ';jsessionid=1'),
      trailing: fc.constantFrom('', '/', '?', '?a=b', '#', '%00', '%20', '.', '..', '%2F', '~', '?%76'),
    })
    .map(({ encodeMask, upperHex, caseMask, doubleSlashAt, dotSegment, parameter, trailing }) => {
      let out = '';
      for (let i = 0; i < path.length; i++) {
        let char = path[i];
        if (caseMask[i] && /[a-z]/.test(char)) char = char.toUpperCase();
        out += encodeMask[i] && (i > 0 || char !== '/') ? percent(char, upperHex) : char;
        if (i === doubleSlashAt && path[i] === '/') out += '/';
      }
      const firstSlash = out.indexOf('/', 1);
      if (dotSegment !== '' && firstSlash > 0) out = `${out.slice(0, firstSlash)}${dotSegment}${out.slice(firstSlash)}`;
      return `${out}${parameter}${trailing}`;
    });

describe('access control on the route that matched', () => {
  const sim = new OpenAiSimulator();
  let gateway: RunningGateway;
  let routes: RouteTable;

  before(async () => {
    const simUrl = await sim.start();
    gateway = await startGateway({
      providers: [{ name: 'sim', type: 'openai', baseUrl: simUrl }],
      models: [{ name: 'gpt-test', deployments: [{ provider: 'sim', model: 'm' }] }],
      auth: {
        enabled: true,
        keys: [
          { id: 'team', key: TEAM_KEY },
          { id: 'ops', key: ADMIN_KEY, admin: true },
        ],
      },
    });
    routes = gateway.app.get(RouteTable);
  });
  after(async () => {
    await gateway.close();
    await sim.stop();
  });

  it('lists every route with an access level, and exactly the expected ones as public', () => {
    assert.ok(routes.routes.length >= 10, 'the route table is populated');
    for (const route of routes.routes) assert.ok(['public', 'key', 'admin'].includes(route.access), route.url);
    const publicRoutes = routes.routes.filter((r) => r.access === 'public').map((r) => `${r.method} ${r.url}`);
    assert.deepEqual([...new Set(publicRoutes)].sort(), PUBLIC_ROUTES);
  });

  it('refuses the encoded spellings of the report: /%76%31/chat/completions and /%61dmin/usage', async () => {
    const chat = await rawRequest(
      gateway.url,
      'POST',
      '/%76%31/chat/completions',
      { 'content-type': 'application/json' },
      JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] }),
    );
    assert.equal(chat.status, 401, chat.body);
    const usage = await rawRequest(gateway.url, 'GET', '/%61dmin/usage');
    assert.equal(usage.status, 401, usage.body);
    const withTeamKey = await rawRequest(gateway.url, 'GET', '/%61dmin/usage', { authorization: `Bearer ${TEAM_KEY}` });
    assert.equal(withTeamKey.status, 403, withTeamKey.body);
    assert.equal(sim.received, 0);
  });

  it('never serves a protected route to a caller without the right key, however its path is written', async () => {
    const protectedRoutes = routes.routes.filter((r) => r.access !== 'public' && r.method !== 'HEAD');
    for (const route of protectedRoutes) {
      const path = concretePath(route.url);
      await fc.assert(
        fc.asyncProperty(spelling(path), fc.boolean(), async (spelled, withTeamKey) => {
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (withTeamKey) headers.authorization = `Bearer ${TEAM_KEY}`;
          const body =
            route.method === 'POST' ? JSON.stringify({ model: 'gpt-test', input: 'hi', messages: [] }) : undefined;
          const answer = await rawRequest(gateway.url, route.method, spelled, headers, body);
          const allowed = withTeamKey && route.access === 'key';
          if (!allowed) {
            assert.ok(
              answer.status === 401 || answer.status === 403 || answer.status === 404 || answer.status === 400,
              `${route.method} ${spelled} (team key: ${withTeamKey}) answered ${answer.status}: ${answer.body.slice(0, 200)}`,
            );
          }
          assert.ok(answer.body === '' || JSON.parse(answer.body) !== undefined, 'every answer is JSON');
        }),
        { numRuns: 60, seed: 20261206 },
      );
    }
    assert.equal(sim.received, 0, 'no spelling reached the provider without a key');
  });

  it('accepts the Bearer scheme in any case, and x-api-key', async () => {
    for (const authorization of [`bearer ${TEAM_KEY}`, `BEARER ${TEAM_KEY}`, `Bearer   ${TEAM_KEY}`]) {
      const answer = await rawRequest(gateway.url, 'GET', '/v1/models', { authorization });
      assert.equal(answer.status, 200, authorization);
    }
    const apiKey = await rawRequest(gateway.url, 'GET', '/v1/models', { 'x-api-key': TEAM_KEY });
    assert.equal(apiKey.status, 200);
    const basic = await rawRequest(gateway.url, 'GET', '/v1/models', { authorization: `Basic ${TEAM_KEY}` });
    assert.equal(basic.status, 401);
  });
});

describe('routes without an access level', () => {
  it('stop start-up, naming the route', async () => {
    const fastify = Fastify();
    installRequestGates(fastify, [], new RouteTable());
    assert.throws(
      () => fastify.get('/v1/new-thing', () => 'open'),
      /route GET \/v1\/new-thing declares no access level/,
    );
    assert.throws(
      () =>
        fastify.route({
          method: 'POST',
          url: '/x',
          config: { access: 'everyone' } as unknown as { access: 'public' },
          handler: () => 'open',
        }),
      /declares no access level/,
    );
    await fastify.close();
  });
});

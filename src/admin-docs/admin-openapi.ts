/**
 * The admin API as an OpenAPI 3.1 document, written by hand next to the DTOs it describes (a generator would need
 * Swagger decorators on every field; these classes already carry class-validator's). `admin-openapi.e2e.spec.ts`
 * fails when an admin route the gateway serves is missing here.
 */
type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const nullable = (type: string, extra: Schema = {}): Schema => ({ type: [type, 'null'], ...extra });
const json = (schema: Schema) => ({ 'application/json': { schema } });
const ok = (description: string, schema: Schema) => ({ description, content: json(schema) });
const errors = {
  '400': { $ref: '#/components/responses/InvalidRequest' },
  '401': { $ref: '#/components/responses/Unauthenticated' },
  '403': { $ref: '#/components/responses/NotAdmin' },
  '503': { $ref: '#/components/responses/DatabaseUnavailable' },
};
const notFound = { '404': { $ref: '#/components/responses/NotFound' } };
const conflict = { '409': { $ref: '#/components/responses/Conflict' } };
const idParam = (description: string) => ({
  name: 'id',
  in: 'path',
  required: true,
  description,
  schema: { type: 'string' },
});
const query = (name: string, description: string, schema: Schema = { type: 'string' }) => ({
  name,
  in: 'query',
  required: false,
  description,
  schema,
});
const paging = [
  query('limit', 'Rows per page (1-500).', { type: 'integer', minimum: 1, maximum: 500, default: 50 }),
  query('cursor', 'The nextCursor of the previous page.'),
];
const list = (item: string): Schema => ({
  type: 'object',
  required: ['object', 'data', 'hasMore', 'nextCursor'],
  properties: {
    object: { const: 'list' },
    data: { type: 'array', items: ref(item) },
    hasMore: { type: 'boolean' },
    nextCursor: nullable('string'),
  },
});

const budget: Schema = {
  type: 'object',
  description: 'Per UTC day and month; null is no limit. USD budgets are enforced with a reservation per request.',
  additionalProperties: false,
  properties: {
    tokensPerDay: nullable('integer', { minimum: 1 }),
    tokensPerMonth: nullable('integer', { minimum: 1 }),
    usdPerDay: nullable('number', { exclusiveMinimum: 0 }),
    usdPerMonth: nullable('number', { exclusiveMinimum: 0 }),
  },
};
const limits: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    requestsPerMinute: nullable('integer', { minimum: 1 }),
    burst: nullable('integer', { minimum: 1 }),
    tokensPerMinute: nullable('integer', { minimum: 1 }),
  },
};
const keyFields: Record<string, Schema> = {
  teamId: nullable('string', { description: "The key's team: its models and budgets cap the key." }),
  models: { type: ['array', 'null'], items: { type: 'string' }, description: 'Public models; null: every model.' },
  limits: { oneOf: [ref('Limits'), { type: 'null' }] },
  budget: { oneOf: [ref('Budget'), { type: 'null' }] },
  expiresAt: nullable('string', { format: 'date-time' }),
  metadata: { type: ['object', 'null'] },
  logBodies: {
    type: ['boolean', 'null'],
    description: 'Keep request and response bodies in the request log (redacted, capped). Off by default.',
  },
};
const teamFields: Record<string, Schema> = {
  models: { type: ['array', 'null'], items: { type: 'string' } },
  budget: { oneOf: [ref('Budget'), { type: 'null' }] },
  metadata: { type: ['object', 'null'] },
};
const dateTime = { type: 'string', format: 'date-time' };

export const ADMIN_OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'LLM gateway admin API',
    version: '1',
    description:
      "Admin keys only (Authorization: Bearer <admin key>). Errors have OpenAI's shape; a 400 names the field in `param`.",
  },
  servers: [{ url: '/' }],
  security: [{ adminKey: [] }, { uiSession: [] }],
  paths: {
    '/admin/keys': {
      post: {
        summary: 'Create a key. The secret is in this answer only.',
        operationId: 'createKey',
        requestBody: { required: true, content: json(ref('CreateKey')) },
        responses: { '201': ok('The key and its secret.', ref('IssuedKey')), ...errors, ...notFound, ...conflict },
      },
      get: {
        summary: 'List keys by id, without revoked ones unless asked.',
        operationId: 'listKeys',
        parameters: [
          query('team', 'Only keys of this team.'),
          query('revoked', 'Include revoked keys.', { enum: ['true', 'false'] }),
          ...paging,
        ],
        responses: { '200': ok('A page of keys.', list('Key')), ...errors },
      },
    },
    '/admin/keys/{id}': {
      get: {
        operationId: 'getKey',
        parameters: [idParam('Key id')],
        responses: { '200': ok('The key.', ref('Key')), ...errors, ...notFound },
      },
      patch: {
        summary: 'Change models, limits, budgets, expiry, team or metadata; null clears a field.',
        operationId: 'updateKey',
        parameters: [idParam('Key id')],
        requestBody: { required: true, content: json(ref('UpdateKey')) },
        responses: { '200': ok('The key after the change.', ref('Key')), ...errors, ...notFound },
      },
    },
    '/admin/keys/{id}/rotate': {
      post: {
        summary: 'A new secret; the old one keeps working for graceSeconds (database.rotationGraceSeconds).',
        operationId: 'rotateKey',
        parameters: [idParam('Key id')],
        requestBody: { required: false, content: json(ref('RotateKey')) },
        responses: { '200': ok('The key and its new secret.', ref('IssuedKey')), ...errors, ...notFound, ...conflict },
      },
    },
    '/admin/keys/{id}/revoke': {
      post: {
        summary: 'Revoke the key (and a rotated secret still in its grace period), on every replica within 1 s.',
        operationId: 'revokeKey',
        parameters: [idParam('Key id')],
        responses: { '200': ok('The revoked key.', ref('Key')), ...errors, ...notFound },
      },
    },
    '/admin/teams': {
      post: {
        operationId: 'createTeam',
        requestBody: { required: true, content: json(ref('CreateTeam')) },
        responses: { '201': ok('The team.', ref('Team')), ...errors, ...conflict },
      },
      get: {
        operationId: 'listTeams',
        parameters: paging,
        responses: { '200': ok('A page of teams.', list('Team')), ...errors },
      },
    },
    '/admin/teams/{id}': {
      get: {
        operationId: 'getTeam',
        parameters: [idParam('Team id')],
        responses: { '200': ok('The team.', ref('Team')), ...errors, ...notFound },
      },
      patch: {
        operationId: 'updateTeam',
        parameters: [idParam('Team id')],
        requestBody: { required: true, content: json(ref('UpdateTeam')) },
        responses: { '200': ok('The team after the change.', ref('Team')), ...errors, ...notFound },
      },
      delete: {
        summary: 'Delete a team that has no keys.',
        operationId: 'deleteTeam',
        parameters: [idParam('Team id')],
        responses: {
          '200': ok('Deleted.', {
            type: 'object',
            properties: { object: { const: 'team' }, id: { type: 'string' }, deleted: { const: true } },
          }),
          ...errors,
          ...notFound,
          ...conflict,
        },
      },
    },
    '/admin/daily-usage': {
      get: {
        summary: 'Usage per UTC day and key, team or model, from the request log aggregates.',
        operationId: 'dailyUsage',
        parameters: [
          query('key', 'Only this key.'),
          query('team', 'Only this team.'),
          query('model', 'Only this public model.'),
          query('from', 'First day (YYYY-MM-DD); 29 days before `to` by default.', { type: 'string', format: 'date' }),
          query('to', 'Last day (YYYY-MM-DD); today by default.', { type: 'string', format: 'date' }),
          query('groupBy', 'The dimension of each row.', { enum: ['key', 'team', 'model'], default: 'key' }),
        ],
        responses: {
          '200': ok('Rows by day.', {
            type: 'object',
            properties: { object: { const: 'list' }, data: { type: 'array', items: ref('DailyUsage') } },
          }),
          ...errors,
        },
      },
    },
    '/admin/request-log': {
      get: {
        summary: 'One row per API request, newest first.',
        operationId: 'requestLog',
        parameters: [
          query('key', 'Only this key.'),
          query('team', 'Only this team.'),
          query('model', 'Only this requested public model.'),
          query('status', 'Only this HTTP status.', { type: 'integer' }),
          query('from', 'At or after this time.', dateTime),
          query('to', 'Before this time.', dateTime),
          ...paging,
        ],
        responses: { '200': ok('A page of requests.', list('RequestLogEntry')), ...errors },
      },
    },
    '/admin/audit-log': {
      get: {
        summary: 'Admin changes, newest first: who, what, before and after, when.',
        operationId: 'auditLog',
        parameters: [
          query('targetType', 'key or team.', { enum: ['key', 'team'] }),
          query('targetId', 'Only changes to this key or team.'),
          query('actor', 'Only changes by this admin key.'),
          ...paging,
        ],
        responses: { '200': ok('A page of changes.', list('AuditEntry')), ...errors },
      },
    },
    '/admin/usage': {
      get: {
        summary: 'Tokens and cost per key since usage was first recorded (memory or Redis totals).',
        operationId: 'usageTotals',
        responses: { '200': ok('Totals per key.', { type: 'object' }), ...errors },
      },
    },
    '/admin/usage/{keyId}': {
      get: {
        operationId: 'usageTotalsOfKey',
        parameters: [{ name: 'keyId', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': ok("One key's totals.", { type: 'object' }), ...errors, ...notFound },
      },
    },
    '/admin/routing': {
      get: {
        summary: 'Live routing state: deployments, in-flight counts, latency, breakers.',
        operationId: 'routingState',
        responses: { '200': ok('Routing state.', { type: 'object' }), ...errors },
      },
    },
    '/admin/routing/test': {
      post: {
        summary:
          'Sends one tiny chat request straight to a deployment (no routing, breaker, cache, limits or key charge) and ' +
          'shows its answer or error. Served while the web UI is enabled (ui.enabled).',
        operationId: 'testDeployment',
        requestBody: {
          required: true,
          content: json({
            type: 'object',
            required: ['deployment'],
            additionalProperties: false,
            properties: {
              deployment: { type: 'string', description: 'A deployment id from GET /admin/routing: provider/model.' },
              prompt: { type: 'string', minLength: 1, description: 'Default "Reply with OK."' },
              maxTokens: { type: 'integer', minimum: 1, maximum: 64, default: 16 },
            },
          }),
        },
        responses: {
          '200': ok('What the deployment answered (ok false with the error when it failed).', {
            type: 'object',
            required: ['object', 'deployment', 'ok', 'latencyMs'],
            properties: {
              object: { const: 'deployment_test' },
              deployment: { type: 'string' },
              provider: { type: 'string' },
              model: { type: 'string' },
              ok: { type: 'boolean' },
              latencyMs: { type: 'number' },
              content: nullable('string'),
              finishReason: nullable('string'),
              usage: {
                type: ['object', 'null'],
                properties: { promptTokens: { type: 'integer' }, completionTokens: { type: 'integer' } },
              },
              error: {
                type: ['object', 'null'],
                properties: {
                  status: { type: 'integer' },
                  type: { type: 'string' },
                  code: nullable('string'),
                  message: { type: 'string' },
                },
              },
            },
          }),
          ...errors,
          ...notFound,
        },
      },
    },
    '/admin/stats': {
      get: {
        summary:
          "This replica's live figures for the web UI's Overview, from its own metrics: a point per 5 s interval " +
          'over the last 10 minutes (requests/s, error rate and errors by kind, overhead and TTFT p50/p95, cache ' +
          'hit ratio, cost), open streams, in-flight requests, and totals since the start of the UTC day. Served ' +
          'while the web UI is enabled (ui.enabled).',
        operationId: 'liveStats',
        responses: {
          '200': ok('Live figures.', {
            type: 'object',
            required: ['object', 'now', 'intervalMs', 'inFlight', 'openStreams', 'today', 'series'],
            properties: {
              object: { const: 'stats' },
              now: { type: 'string', format: 'date-time' },
              startedAt: { type: 'string', format: 'date-time' },
              intervalMs: { type: 'integer' },
              inFlight: { type: 'integer' },
              openStreams: { type: 'integer' },
              today: {
                type: 'object',
                properties: {
                  costUsd: { type: 'number' },
                  requests: { type: 'integer' },
                  tokens: { type: 'object', additionalProperties: { type: 'number' } },
                },
              },
              upstreamErrors: {
                type: 'object',
                description: 'Failed upstream attempts since start, by failure class.',
                additionalProperties: { type: 'number' },
              },
              series: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    t: { type: 'integer', description: 'End of the interval, epoch ms.' },
                    requestsPerSecond: { type: 'number' },
                    errorRate: { type: 'number' },
                    errors: {
                      type: 'object',
                      properties: {
                        client_error: { type: 'integer' },
                        rate_limited: { type: 'integer' },
                        server_error: { type: 'integer' },
                        client_closed: { type: 'integer' },
                      },
                    },
                    overheadP50Ms: nullable('number'),
                    overheadP95Ms: nullable('number'),
                    ttftP50Ms: nullable('number'),
                    ttftP95Ms: nullable('number'),
                    cacheHitRatio: nullable('number'),
                    costUsd: { type: 'number' },
                  },
                },
              },
            },
          }),
          ...errors,
        },
      },
    },
    '/ui/api/session': {
      post: {
        summary:
          'Signs in to the web UI: the admin key (Authorization: Bearer) is exchanged for the llmgw_ui_session ' +
          'cookie (HttpOnly, SameSite=Strict) and a CSRF token that changes made with the cookie must carry in ' +
          'x-csrf-token. GET answers the current session (public), DELETE signs out. Served while ui.enabled.',
        operationId: 'uiSignIn',
        responses: {
          '201': ok('Signed in; Set-Cookie carries the session.', {
            type: 'object',
            required: ['signedIn', 'keyId', 'csrfToken', 'expiresAt', 'database', 'auth'],
            properties: {
              signedIn: { const: true },
              keyId: { type: 'string' },
              csrfToken: { type: 'string' },
              expiresAt: { type: 'string', format: 'date-time' },
              database: { type: 'boolean', description: 'Whether the gateway has a database section.' },
              auth: { type: 'boolean', description: 'Whether API routes need a key.' },
            },
          }),
          ...errors,
        },
      },
    },
    '/admin/openapi.json': {
      get: {
        summary: 'This document.',
        operationId: 'openapi',
        responses: { '200': ok('OpenAPI 3.1.', { type: 'object' }), ...errors },
      },
    },
  },
  components: {
    securitySchemes: {
      adminKey: { type: 'http', scheme: 'bearer', description: 'A key with admin: true in the config file.' },
      uiSession: {
        type: 'apiKey',
        in: 'cookie',
        name: 'llmgw_ui_session',
        description: 'The web UI session (POST /ui/api/session); changes also need the x-csrf-token header.',
      },
    },
    responses: {
      InvalidRequest: { description: 'A field is invalid; `param` names it.', content: json(ref('Error')) },
      Unauthenticated: { description: 'No or wrong key.', content: json(ref('Error')) },
      NotAdmin: { description: 'Not an admin key (admin_required).', content: json(ref('Error')) },
      NotFound: { description: 'No such key or team.', content: json(ref('Error')) },
      Conflict: { description: 'The id is taken, the key is revoked, the team has keys.', content: json(ref('Error')) },
      DatabaseUnavailable: {
        description: 'PostgreSQL cannot be reached (database_unavailable).',
        content: json(ref('Error')),
      },
    },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['message', 'type', 'param', 'code'],
            properties: {
              message: { type: 'string' },
              type: { type: 'string' },
              param: nullable('string'),
              code: nullable('string'),
            },
          },
        },
      },
      Budget: budget,
      Limits: limits,
      CreateKey: {
        type: 'object',
        additionalProperties: false,
        properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' }, ...keyFields },
      },
      UpdateKey: { type: 'object', additionalProperties: false, properties: keyFields },
      RotateKey: {
        type: 'object',
        additionalProperties: false,
        properties: { graceSeconds: { type: 'integer', minimum: 0, maximum: 2_592_000 } },
      },
      Key: {
        type: 'object',
        properties: {
          object: { const: 'key' },
          id: { type: 'string' },
          prefix: { type: 'string', description: 'The first characters of the secret.' },
          teamId: nullable('string'),
          models: { type: ['array', 'null'], items: { type: 'string' } },
          limits: limits,
          budget: budget,
          expiresAt: nullable('string', { format: 'date-time' }),
          revokedAt: nullable('string', { format: 'date-time' }),
          previousSecretValidUntil: nullable('string', { format: 'date-time' }),
          logBodies: { type: 'boolean' },
          metadata: { type: 'object' },
          createdAt: dateTime,
          updatedAt: dateTime,
        },
      },
      IssuedKey: {
        type: 'object',
        required: ['key', 'secret'],
        properties: { key: ref('Key'), secret: { type: 'string', description: 'Shown once; only its hash is kept.' } },
      },
      CreateTeam: {
        type: 'object',
        required: ['id', 'name'],
        additionalProperties: false,
        properties: {
          id: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
          name: { type: 'string' },
          ...teamFields,
        },
      },
      UpdateTeam: {
        type: 'object',
        additionalProperties: false,
        properties: { name: { type: 'string' }, ...teamFields },
      },
      Team: {
        type: 'object',
        properties: {
          object: { const: 'team' },
          id: { type: 'string' },
          name: { type: 'string' },
          models: { type: ['array', 'null'], items: { type: 'string' } },
          budget: budget,
          metadata: { type: 'object' },
          createdAt: dateTime,
          updatedAt: dateTime,
        },
      },
      DailyUsage: {
        type: 'object',
        properties: {
          day: { type: 'string', format: 'date' },
          key: { type: 'string' },
          team: { type: 'string', description: "'' for keys without a team" },
          model: { type: 'string' },
          requests: { type: 'integer' },
          errors: { type: 'integer' },
          promptTokens: { type: 'integer' },
          completionTokens: { type: 'integer' },
          cachedTokens: { type: 'integer' },
          cacheWriteTokens: { type: 'integer' },
          reasoningTokens: { type: 'integer' },
          costUsd: { type: 'number' },
        },
      },
      RequestLogEntry: {
        type: 'object',
        properties: {
          object: { const: 'request' },
          id: { type: 'integer' },
          at: dateTime,
          requestId: { type: 'string' },
          traceId: nullable('string'),
          keyId: nullable('string'),
          teamId: nullable('string'),
          front: { type: 'string' },
          operation: { type: 'string' },
          model: { type: 'string' },
          servedModel: nullable('string'),
          deployment: nullable('string'),
          provider: nullable('string'),
          attempts: { type: 'integer' },
          fallbacks: { type: 'integer' },
          stream: { type: 'boolean' },
          status: { type: 'integer' },
          errorCode: nullable('string'),
          tokens: {
            type: 'object',
            properties: {
              prompt: nullable('integer'),
              completion: nullable('integer'),
              cached: nullable('integer'),
              cacheWrite: nullable('integer'),
              reasoning: nullable('integer'),
              estimated: { type: 'boolean' },
            },
          },
          costUsd: nullable('number'),
          latencyMs: { type: 'number' },
          overheadMs: nullable('number'),
          ttftMs: nullable('number'),
          upstreamMs: { type: 'number' },
          cache: nullable('string'),
          requestBody: nullable('string', { description: 'Only for keys with logBodies: redacted, capped.' }),
          responseBody: nullable('string'),
        },
      },
      AuditEntry: {
        type: 'object',
        properties: {
          object: { const: 'audit_entry' },
          id: { type: 'integer' },
          at: dateTime,
          actor: { type: 'string' },
          action: { type: 'string', examples: ['key.create', 'key.rotate', 'team.update'] },
          targetType: { enum: ['key', 'team'] },
          targetId: { type: 'string' },
          before: { type: ['object', 'null'] },
          after: { type: ['object', 'null'] },
          requestId: nullable('string'),
        },
      },
    },
  },
};

/** The OpenAPI path of a Fastify route URL: `/admin/keys/:id` → `/admin/keys/{id}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

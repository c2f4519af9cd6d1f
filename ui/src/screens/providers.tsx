/** Models and their deployments, live (GET /admin/routing every 5 s), with a test button per deployment. */
import { useState } from 'preact/hooks';
import { request } from '../api.js';
import { ErrorNote, useAsync } from '../components/common.js';
import { count, ms } from '../format.js';
import type { DeploymentState, DeploymentTestResult, ModelRouting } from '../types.js';

function breakerClass(state: DeploymentState['breaker']['state']): string {
  return state === 'closed' ? 'good' : state === 'half-open' ? 'warn' : 'bad';
}

function TestButton({ deployment }: { deployment: string }) {
  const [result, setResult] = useState<DeploymentTestResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      setResult(await request<DeploymentTestResult>('/admin/routing/test', { method: 'POST', body: { deployment } }));
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="test">
      <button type="button" class="small" onClick={() => void run()} disabled={busy}>
        {busy ? 'Testing…' : 'Test'}
        <span class="visually-hidden"> {deployment}</span>
      </button>
      <ErrorNote error={error} />
      {result && (
        <output class={`test-result ${result.ok ? 'good' : 'bad'}`} aria-live="polite">
          {result.ok
            ? `OK in ${ms(result.latencyMs)}: “${result.content ?? ''}” (${result.usage?.promptTokens ?? '?'} + ${result.usage?.completionTokens ?? '?'} tokens)`
            : `Failed in ${ms(result.latencyMs)}: ${result.error?.status ?? ''} ${result.error?.code ?? ''} ${result.error?.message ?? ''}`}
        </output>
      )}
    </div>
  );
}

export function Providers() {
  const state = useAsync(() => request<{ models: ModelRouting[] }>('/admin/routing'), [], 5_000);
  if (!state.data) return state.error ? <ErrorNote error={state.error} /> : <p class="loading">Loading…</p>;
  return (
    <section aria-labelledby="providers-title">
      <h1 id="providers-title">Providers and models</h1>
      <p class="muted">
        Live routing state of this replica, refreshed every 5 s. Test sends one tiny request straight to a deployment
        (no routing, breaker, cache or key charge).
      </p>
      <ErrorNote error={state.error} />
      {state.data.models.map((group) => {
        const totalWeight = group.deployments.reduce((n, d) => n + d.weight, 0);
        return (
          <section key={group.model} class="card" aria-labelledby={`model-${group.model}`}>
            <h2 id={`model-${group.model}`}>{group.model}</h2>
            <p class="muted">
              {group.strategy} · up to {group.maxAttempts} attempts · timeout {ms(group.timeoutMs)}
              {group.fallbacks.length > 0 && ` · falls back to ${group.fallbacks.join(', ')}`}
            </p>
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Deployment</th>
                    <th scope="col">Provider</th>
                    <th scope="col">Weight</th>
                    <th scope="col">Breaker</th>
                    <th scope="col">In flight</th>
                    <th scope="col">Latency (EWMA)</th>
                    <th scope="col">Requests</th>
                    <th scope="col">Failures</th>
                    <th scope="col">Recent errors</th>
                    <th scope="col">
                      <span class="visually-hidden">Test</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {group.deployments.map((d) => (
                    <tr key={d.id}>
                      <td>
                        <code>{d.id}</code>
                      </td>
                      <td>
                        {d.provider} <span class="muted">({d.providerType})</span>
                      </td>
                      <td>
                        {d.weight}{' '}
                        <span class="muted">({Math.round((d.weight / Math.max(totalWeight, 1e-9)) * 100)}%)</span>
                      </td>
                      <td>
                        <span class={`badge ${breakerClass(d.breaker.state)}`}>{d.breaker.state}</span>
                      </td>
                      <td>{d.inFlight}</td>
                      <td>{ms(d.latencyEwmaMs)}</td>
                      <td>{count(d.requests)}</td>
                      <td>{count(d.failures)}</td>
                      <td>
                        {d.breaker.recentFailures}
                        {d.breaker.lastFailureAt !== null && (
                          <span class="muted">
                            {' '}
                            (last {new Date(d.breaker.lastFailureAt).toISOString().slice(11, 19)}Z)
                          </span>
                        )}
                      </td>
                      <td>
                        <TestButton deployment={d.id} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>
        );
      })}
    </section>
  );
}

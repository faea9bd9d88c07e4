/** Bounded HTTP load for scenarios: a fixed number of requests, or a steady rate for a fixed time. */
import { Agent, request } from 'undici';

/** One response as a scenario sees it. */
export interface Sample {
  at: number;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  error?: string;
  ms: number;
}

const agent = new Agent({ keepAliveTimeout: 10_000, connections: 64 });

/** One GET; network errors become a sample with status 0 and the error. */
export async function get(url: string, headers: Record<string, string> = {}, timeoutMs = 15_000): Promise<Sample> {
  const t0 = performance.now();
  const at = Date.now();
  try {
    const r = await request(url, { method: 'GET', headers, dispatcher: agent, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    const body = await r.body.text();
    return { at, status: r.statusCode, headers: r.headers, body, ms: performance.now() - t0 };
  } catch (err) {
    return { at, status: 0, headers: {}, body: '', error: (err as Error).message, ms: performance.now() - t0 };
  }
}

/** `n` GETs with at most `concurrency` in flight. */
export async function burst(n: number, concurrency: number, url: string, headers: Record<string, string> = {}): Promise<Sample[]> {
  const out: Sample[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next += 1;
      out.push(await get(url, headers));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}

/** GETs at `rps` for `durationMs` (bounded), resolving with every sample in start order. */
export async function steady(url: string, rps: number, durationMs: number, headers: Record<string, string> = {}): Promise<Sample[]> {
  const total = Math.round((rps * durationMs) / 1000);
  const interval = 1000 / rps;
  const started = performance.now();
  const pending: Promise<Sample>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(get(url, headers));
  }
  return Promise.all(pending);
}

/** Share (0..1) of samples for which `pred` holds. */
export function share(samples: Sample[], pred: (s: Sample) => boolean): number {
  return samples.length ? samples.filter(pred).length / samples.length : 0;
}

/** Closes pooled connections. */
export async function closeLoad(): Promise<void> {
  await agent.close();
}

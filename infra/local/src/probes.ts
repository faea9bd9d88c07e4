/** Probes as the kubelet runs them: httpGet and tcpSocket from the host to the pod IP, exec inside the pod. */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { spawn } from 'node:child_process';
import { resolvePort, type ContainerSpec, type Probe } from './kube';

/** Runs a probe once; true on success. */
export function probeOnce(probe: Probe, podIP: string, containers: ContainerSpec[], netns: string): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) {
    const g = probe.httpGet;
    const port = resolvePort(g.port, containers);
    if (port === undefined) return Promise.resolve(false);
    const https = (g.scheme ?? 'HTTP').toUpperCase() === 'HTTPS';
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.31' };
    for (const h of g.httpHeaders ?? []) headers[h.name] = h.value;
    return new Promise((resolve) => {
      const req = (https ? httpsRequest : httpRequest)(
        { host: g.host ?? podIP, port, path: g.path ?? '/', method: 'GET', headers, timeout: timeoutMs, rejectUnauthorized: false, agent: false },
        (res) => {
          res.resume();
          resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve(false));
      req.end();
    });
  }
  if (probe.tcpSocket) {
    const port = resolvePort(probe.tcpSocket.port, containers);
    if (port === undefined) return Promise.resolve(false);
    return new Promise((resolve) => {
      const s = connect({ host: probe.tcpSocket!.host ?? podIP, port, timeout: timeoutMs });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('timeout', () => {
        s.destroy();
        resolve(false);
      });
      s.once('error', () => resolve(false));
    });
  }
  if (probe.exec) {
    return new Promise((resolve) => {
      const child = spawn('ip', ['netns', 'exec', netns, ...probe.exec!.command], { stdio: 'ignore', timeout: timeoutMs });
      child.once('exit', (code) => resolve(code === 0));
      child.once('error', () => resolve(false));
    });
  }
  return Promise.resolve(true);
}

/** A probe run periodically with the kubelet's thresholds; reports transitions. */
export class Prober {
  private timer: NodeJS.Timeout | undefined;
  private successes = 0;
  private failures = 0;
  private lastFailureCountedAt = 0;
  private reportedFailure = false;
  private stopped = false;
  /** The probe's current verdict. */
  ok = false;

  constructor(
    private readonly probe: Probe,
    private readonly target: () => { podIP: string; containers: ContainerSpec[]; netns: string },
    private readonly onChange: (ok: boolean) => void,
    /** Scales periods down (tests); 1 = the manifest's timing. */
    private readonly periodScale = 1,
    /**
     * Probe every 200 ms–1 s until the first success (readiness and startup probes), so a pod is
     * noticed ready quickly; failures still need failureThreshold periods at the manifest's timing.
     */
    private readonly fastUntilReady = false,
  ) {}

  /** Starts probing after initialDelaySeconds. */
  start(): void {
    this.stopped = false;
    this.schedule((this.probe.initialDelaySeconds ?? 0) * 1000 * this.periodScale);
  }

  /** Stops probing and forgets the verdict. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.successes = 0;
    this.failures = 0;
    this.reportedFailure = false;
    this.ok = false;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    const t = this.target();
    const ok = await probeOnce(this.probe, t.podIP, t.containers, t.netns);
    if (this.stopped) return;
    if (ok) {
      this.failures = 0;
      this.successes++;
      if (!this.ok && this.successes >= (this.probe.successThreshold ?? 1)) {
        this.ok = true;
        this.reportedFailure = false;
        this.onChange(true);
      }
    } else {
      this.successes = 0;
      const period = (this.probe.periodSeconds ?? 10) * 1000 * this.periodScale;
      const now = Date.now();
      // Fast probing counts failures at the manifest's period, not at the fast rate.
      if (!this.fastUntilReady || this.ok || now - this.lastFailureCountedAt >= period) {
        this.failures++;
        this.lastFailureCountedAt = now;
      }
      if (this.failures >= (this.probe.failureThreshold ?? 3)) {
        const was = this.ok;
        this.ok = false;
        if (was || !this.reportedFailure) this.onChange(false);
        this.reportedFailure = true;
      }
    }
    const period = (this.probe.periodSeconds ?? 10) * 1000 * this.periodScale;
    this.schedule(this.ok || !this.fastUntilReady ? period : Math.max(200, Math.min(period, 1000)));
  }
}

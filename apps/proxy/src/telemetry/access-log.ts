/**
 * Access log as JSON lines with the fields of Envoy's default format, named as Istio's JSON
 * encoding names them (`meshConfig.accessLogEncoding: JSON`). On by default (stdout), switched
 * off with `--access-log off` or `ACCESS_LOG_FILE=""`, or sent to a file. Lines are batched and
 * written once per event-loop turn, so logging a request never blocks on I/O.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';

/** One request (or TCP connection), as the access log reports it. Missing values are null. */
export interface AccessLogEntry {
  startTime: number;
  method: string | null;
  /** The original path (`x-envoy-original-path` when rewritten, else `:path`). */
  path: string | null;
  /** `HTTP/1.1`, `HTTP/2`, or null for TCP. */
  protocol: string | null;
  responseCode: number;
  responseFlags: string;
  responseCodeDetails: string | null;
  connectionTerminationDetails: string | null;
  upstreamTransportFailureReason: string | null;
  bytesReceived: number;
  bytesSent: number;
  durationMs: number;
  upstreamServiceTimeMs: number | null;
  xForwardedFor: string | null;
  userAgent: string | null;
  requestId: string | null;
  authority: string | null;
  upstreamHost: string | null;
  upstreamCluster: string | null;
  upstreamLocalAddress: string | null;
  downstreamLocalAddress: string | null;
  downstreamRemoteAddress: string | null;
  requestedServerName: string | null;
  routeName: string | null;
}

function q(v: string | null): string {
  return v === null || v === '' ? 'null' : JSON.stringify(v);
}

/** One JSON line, keys in alphabetical order as Istio writes them. */
export function formatAccessLog(e: AccessLogEntry): string {
  return `{"authority":${q(e.authority)},"bytes_received":${e.bytesReceived},"bytes_sent":${e.bytesSent},`
    + `"connection_termination_details":${q(e.connectionTerminationDetails)},"downstream_local_address":${q(e.downstreamLocalAddress)},`
    + `"downstream_remote_address":${q(e.downstreamRemoteAddress)},"duration":${Math.round(e.durationMs)},"method":${q(e.method)},"path":${q(e.path)},`
    + `"protocol":${q(e.protocol)},"request_id":${q(e.requestId)},"requested_server_name":${q(e.requestedServerName)},"response_code":${e.responseCode},`
    + `"response_code_details":${q(e.responseCodeDetails)},"response_flags":${q(e.responseFlags || '-')},"route_name":${q(e.routeName)},`
    + `"start_time":${JSON.stringify(new Date(e.startTime).toISOString())},"upstream_cluster":${q(e.upstreamCluster)},"upstream_host":${q(e.upstreamHost)},`
    + `"upstream_local_address":${q(e.upstreamLocalAddress)},"upstream_service_time":${e.upstreamServiceTimeMs === null ? 'null' : JSON.stringify(String(Math.round(e.upstreamServiceTimeMs)))},`
    + `"upstream_transport_failure_reason":${q(e.upstreamTransportFailureReason)},"user_agent":${q(e.userAgent)},"x_forwarded_for":${q(e.xForwardedFor)}}\n`;
}

/** Where the log goes: `stdout` (default), a file path, or off. */
export type AccessLogTarget = 'stdout' | 'off' | string;

/** Resolves the switch: `--access-log <stdout|off|path>` over `ACCESS_LOG_FILE` (Istio's meshConfig.accessLogFile; empty = off). */
export function accessLogTarget(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): AccessLogTarget {
  if (flag !== undefined) return flag === '' || flag === 'off' || flag === 'false' ? 'off' : flag === '/dev/stdout' ? 'stdout' : flag;
  const e = env.ACCESS_LOG_FILE;
  if (e === undefined) return 'stdout';
  return e === '' ? 'off' : e === '/dev/stdout' ? 'stdout' : e;
}

/** The access logger. */
export class AccessLogger {
  readonly enabled: boolean;
  private readonly out: Writable | null;
  private pending: string[] = [];
  private scheduled = false;

  constructor(target: AccessLogTarget, stream?: Writable) {
    this.enabled = target !== 'off';
    this.out = !this.enabled ? null : stream ?? (target === 'stdout' ? process.stdout : createWriteStream(target, { flags: 'a' }));
  }

  /** Queues one entry (no-op when off). */
  log(e: AccessLogEntry): void {
    if (!this.enabled) return;
    this.pending.push(formatAccessLog(e));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(flushLogger, this);
    }
  }

  /** Writes what is queued. */
  flush(): void {
    this.scheduled = false;
    if (!this.pending.length || !this.out) return;
    const text = this.pending.length === 1 ? this.pending[0] : this.pending.join('');
    this.pending = [];
    this.out.write(text);
  }

  /** Flushes and closes a file target. */
  close(): void {
    this.flush();
    if (this.out && this.out !== process.stdout) (this.out as WriteStream).end();
  }
}

function flushLogger(l: AccessLogger): void {
  l.flush();
}

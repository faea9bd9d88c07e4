/** A small Prometheus registry (text exposition format 0.0.4) with Istio's control-plane metric names. */
import { Registry, registerProcessMetrics } from '@tsmesh/telemetry/metrics';

type Labels = Record<string, string>;

function labelText(l: Labels): string {
  const e = Object.entries(l);
  if (!e.length) return '';
  return `{${e.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

abstract class Metric {
  constructor(readonly name: string, readonly help: string, readonly type: 'counter' | 'gauge' | 'histogram') {}
  abstract lines(): string[];
  text(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...this.lines()].join('\n');
  }
}

/** A counter with labels. */
export class Counter extends Metric {
  private readonly values = new Map<string, number>();
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = labelText(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels)) ?? 0;
  }
  /** Forgets every label set (before setting the current ones). */
  clear(): void {
    this.values.clear();
  }
  lines(): string[] {
    return [...this.values].map(([k, v]) => `${this.name}${k} ${v}`);
  }
}

/** A gauge with labels. */
export class Gauge extends Metric {
  private readonly values = new Map<string, number>();
  constructor(name: string, help: string) {
    super(name, help, 'gauge');
  }
  set(value: number, labels: Labels = {}): void {
    this.values.set(labelText(labels), value);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels)) ?? 0;
  }
  /** Forgets every label set (before setting the current ones). */
  clear(): void {
    this.values.clear();
  }
  lines(): string[] {
    return [...this.values].map(([k, v]) => `${this.name}${k} ${v}`);
  }
}

/** A histogram (seconds) with fixed buckets. */
export class Histogram extends Metric {
  private readonly data = new Map<string, { buckets: number[]; sum: number; count: number }>();
  constructor(name: string, help: string, readonly bounds: readonly number[]) {
    super(name, help, 'histogram');
  }
  observe(value: number, labels: Labels = {}): void {
    const k = labelText(labels);
    let d = this.data.get(k);
    if (!d) this.data.set(k, (d = { buckets: this.bounds.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.bounds.length; i++) if (value <= this.bounds[i]) d.buckets[i] += 1;
    d.sum += value;
    d.count += 1;
  }
  count(labels: Labels = {}): number {
    return this.data.get(labelText(labels))?.count ?? 0;
  }
  lines(): string[] {
    const out: string[] = [];
    for (const [k, d] of this.data) {
      const inner = k ? k.slice(1, -1) + ',' : '';
      this.bounds.forEach((b, i) => out.push(`${this.name}_bucket{${inner}le="${b}"} ${d.buckets[i]}`));
      out.push(`${this.name}_bucket{${inner}le="+Inf"} ${d.count}`, `${this.name}_sum${k} ${d.sum}`, `${this.name}_count${k} ${d.count}`);
    }
    return out;
  }
}

/** Istio's buckets for pilot_proxy_convergence_time (seconds). */
export const CONVERGENCE_BUCKETS = [0.1, 0.5, 1, 3, 5, 10, 20, 30];
/** Buckets for per-push timings (seconds). */
export const PUSH_TIME_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 3, 5, 10];

/** Istio's buckets for pilot_xds_config_size_bytes (bytes). */
export const CONFIG_SIZE_BUCKETS = [1, 10000, 1000000, 4000000, 10000000, 40000000];

/** The control plane's metrics. */
export class ControlPlaneMetrics {
  /** Pushes sent, by type (`cds`, `eds`, `lds`, `rds`, `sds`). */
  readonly pushes = new Counter('pilot_xds_pushes', 'Pilot build and send errors for lds, rds, cds and eds.');
  /** Push triggers, by reason. */
  readonly triggers = new Counter('pilot_push_triggers', 'Total number of times a push was triggered, labeled by reason for the push.');
  /** Time to generate and hand one proxy's resources to the ADS server. */
  readonly pushTime = new Histogram('pilot_xds_push_time', 'Total time in seconds Pilot takes to push lds, rds, cds and eds.', PUSH_TIME_BUCKETS);
  /** From the first config change of a debounced push to the proxy ACKing every type it changed. */
  readonly convergence = new Histogram('pilot_proxy_convergence_time', 'Delay in seconds between config change and a proxy receiving all required configuration.', CONVERGENCE_BUCKETS);
  readonly connected = new Gauge('pilot_xds', 'Number of endpoints connected to this pilot using XDS.');
  readonly nacks = new Counter('pilot_total_xds_rejects', 'Total number of XDS responses from pilot rejected by proxy.');
  readonly rejectedConfigs = new Gauge('pilot_rejected_configs', 'Number of configuration resources currently rejected by validation.');
  readonly validationFailures = new Counter('galley_validation_failed', 'Resource validation failed.');
  readonly services = new Gauge('pilot_services', 'Total services known to pilot.');
  /** Rejected resources by kind and handling: `kept_last_good` (the previous version serves), `fail_closed` (a security policy enforced as far as it can be, denying more / allowing less), `dropped`. */
  readonly rejectedByHandling = new Gauge('tsmesh_rejected_resources', 'Resources currently rejected by validation, by kind and by how they are handled.');
  readonly fullPushTime = new Histogram('tsmesh_push_context_build_time', 'Time in seconds to validate config and build one push context.', PUSH_TIME_BUCKETS);
  /** Time a proxy waited in the push queue. */
  readonly queueTime = new Histogram('pilot_proxy_queue_time', 'Time in seconds a proxy is in the push queue before being dequeued.', PUSH_TIME_BUCKETS);
  /** Proxies waiting in the push queue. */
  readonly queueSize = new Gauge('tsmesh_push_queue_size', 'Proxies waiting in the push queue.');
  /** Bytes of resources written to streams, by type. */
  readonly sentBytes = new Counter('tsmesh_xds_sent_bytes', 'Bytes of xDS resources written to proxies, by type.');
  /** Streams told to back off by the admission rate limit. */
  readonly rateLimited = new Counter('pilot_xds_rate_limited', 'Streams refused by the new-stream rate limit (told to back off).');
  /** Size of each xDS response written to a proxy, by type. */
  readonly configSize = new Histogram('pilot_xds_config_size_bytes', 'Distribution of configuration sizes pushed to clients.', CONFIG_SIZE_BUCKETS);
  /** Config changes seen, by kind (`type`) and `event` (`add`, `update`, `delete`). */
  readonly cfgEvents = new Counter('pilot_k8s_cfg_events', 'Events from the config sources, by type and event.');
  /** VirtualServices in the current push context. */
  readonly virtualServices = new Gauge('pilot_virt_services', 'Total virtual services known to pilot.');
  /** Process metrics (resident memory, CPU seconds, start time). */
  private readonly process = new Registry();

  constructor() {
    registerProcessMetrics(this.process);
  }

  text(): string {
    return `${[this.pushes, this.triggers, this.pushTime, this.convergence, this.connected, this.nacks, this.rejectedConfigs, this.rejectedByHandling, this.validationFailures, this.services, this.fullPushTime, this.queueTime, this.queueSize, this.sentBytes, this.rateLimited, this.configSize, this.cfgEvents, this.virtualServices]
      .map((m) => m.text()).join('\n')}\n${this.process.expose()}`;
  }
}

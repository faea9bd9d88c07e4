/**
 * A small Prometheus registry for hot paths: label values are resolved to a child once and the
 * child is cached by its joined key, so recording a sample is a map lookup and an add. Text
 * exposition follows the Prometheus text format 0.0.4.
 */

/** Escapes a label value for the text format. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A metric name or label name that Prometheus would refuse. */
export class MetricDefinitionError extends Error {
  readonly code = 'TELEMETRY_METRIC_DEFINITION';
}

/** What every metric has. */
export interface MetricOptions {
  name: string;
  help: string;
  labelNames?: readonly string[];
  /**
   * Most label combinations kept (default 20,000): label values can come from what peers send
   * (their metadata), so past this many every new combination is counted in one child whose
   * labels all read `overflow` rather than growing the registry without bound.
   */
  maxSeries?: number;
}

/** Label combinations a metric keeps by default. */
export const DEFAULT_MAX_SERIES = 20_000;

const OVERFLOW_KEY = '\u0001overflow';

abstract class Metric<C> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  protected readonly children = new Map<string, { labels: string; child: C }>();
  readonly maxSeries: number;

  constructor(o: MetricOptions) {
    if (!NAME_RE.test(o.name)) throw new MetricDefinitionError(`metric name "${o.name}" is not a valid Prometheus name`);
    for (const l of o.labelNames ?? []) {
      if (!LABEL_RE.test(l) || l.startsWith('__')) throw new MetricDefinitionError(`metric ${o.name}: label name "${l}" is not valid`);
    }
    this.name = o.name;
    this.help = o.help;
    this.labelNames = o.labelNames ?? [];
    this.maxSeries = o.maxSeries ?? DEFAULT_MAX_SERIES;
  }

  /** The child for these label values (in `labelNames` order), created on first use. */
  labels(...values: string[]): C {
    const key = values.length === 1 ? values[0] : values.join('\u0000');
    const hit = this.children.get(key);
    if (hit) return hit.child;
    if (values.length !== this.labelNames.length) {
      throw new MetricDefinitionError(`metric ${this.name}: expected ${this.labelNames.length} label values, got ${values.length}`);
    }
    if (this.children.size >= this.maxSeries) return this.overflow();
    const labels = this.labelNames.map((n, i) => `${n}="${escapeLabelValue(values[i] ?? '')}"`).join(',');
    const child = this.newChild();
    this.children.set(key, { labels, child });
    return child;
  }

  /** The one child new label combinations share once `maxSeries` is reached. */
  private overflow(): C {
    const hit = this.children.get(OVERFLOW_KEY);
    if (hit) return hit.child;
    const child = this.newChild();
    this.children.set(OVERFLOW_KEY, { labels: this.labelNames.map((n) => `${n}="overflow"`).join(','), child });
    return child;
  }

  /** Removes every child (all label combinations). */
  reset(): void {
    this.children.clear();
  }

  protected abstract newChild(): C;
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  /** Appends this metric's exposition lines. */
  abstract write(out: string[]): void;
}

/** A monotonically increasing counter child. */
export class CounterChild {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

/** A Prometheus counter. */
export class Counter extends Metric<CounterChild> {
  readonly type = 'counter' as const;
  protected newChild(): CounterChild {
    return new CounterChild();
  }
  /** Shorthand for a counter with no labels. */
  inc(n = 1): void {
    this.labels().inc(n);
  }
  write(out: string[]): void {
    for (const { labels, child } of this.children.values()) out.push(`${this.name}${labels ? `{${labels}}` : ''} ${child.value}`);
  }
}

/** A gauge child. */
export class GaugeChild {
  value = 0;
  set(v: number): void {
    this.value = v;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

/** A Prometheus gauge; `collect` (optional) refreshes values just before exposition. */
export class Gauge extends Metric<GaugeChild> {
  readonly type = 'gauge' as const;
  private readonly collect?: (g: Gauge) => void;
  constructor(o: MetricOptions & { collect?: (g: Gauge) => void }) {
    super(o);
    this.collect = o.collect;
  }
  protected newChild(): GaugeChild {
    return new GaugeChild();
  }
  set(v: number): void {
    this.labels().set(v);
  }
  write(out: string[]): void {
    this.collect?.(this);
    for (const { labels, child } of this.children.values()) out.push(`${this.name}${labels ? `{${labels}}` : ''} ${child.value}`);
  }
}

/** A histogram child: cumulative counts per bucket are computed at exposition. */
export class HistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(v: number): void {
    const b = this.bounds;
    // Linear scan: bucket lists are short and this avoids allocation.
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]) {
        this.counts[i] += 1;
        break;
      }
    }
    this.sum += v;
    this.count += 1;
  }
}

/** A Prometheus histogram with fixed upper bounds (`+Inf` implied). */
export class Histogram extends Metric<HistogramChild> {
  readonly type = 'histogram' as const;
  readonly buckets: readonly number[];
  constructor(o: MetricOptions & { buckets: readonly number[] }) {
    super(o);
    if (o.labelNames?.includes('le')) throw new MetricDefinitionError(`metric ${o.name}: "le" is reserved for histograms`);
    const sorted = [...o.buckets].sort((a, b) => a - b);
    this.buckets = sorted;
  }
  protected newChild(): HistogramChild {
    return new HistogramChild(this.buckets);
  }
  observe(v: number): void {
    this.labels().observe(v);
  }
  write(out: string[]): void {
    for (const { labels, child } of this.children.values()) {
      const pre = labels ? `${labels},` : '';
      let cum = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cum += child.counts[i];
        out.push(`${this.name}_bucket{${pre}le="${this.buckets[i]}"} ${cum}`);
      }
      out.push(`${this.name}_bucket{${pre}le="+Inf"} ${child.count}`);
      out.push(`${this.name}_sum${labels ? `{${labels}}` : ''} ${child.sum}`);
      out.push(`${this.name}_count${labels ? `{${labels}}` : ''} ${child.count}`);
    }
  }
}

/** A set of metrics exposed together. */
export class Registry {
  private readonly metrics = new Map<string, Metric<unknown>>();

  private add<M extends Metric<unknown>>(m: M): M {
    if (this.metrics.has(m.name)) throw new MetricDefinitionError(`metric ${m.name} is already registered`);
    this.metrics.set(m.name, m);
    return m;
  }

  counter(o: MetricOptions): Counter {
    return this.add(new Counter(o));
  }
  gauge(o: MetricOptions & { collect?: (g: Gauge) => void }): Gauge {
    return this.add(new Gauge(o));
  }
  histogram(o: MetricOptions & { buckets: readonly number[] }): Histogram {
    return this.add(new Histogram(o));
  }
  get(name: string): Metric<unknown> | undefined {
    return this.metrics.get(name);
  }

  /** Prometheus text exposition of every metric. */
  expose(): string {
    const out: string[] = [];
    for (const m of this.metrics.values()) {
      out.push(`# HELP ${m.name} ${escapeHelp(m.help)}`);
      out.push(`# TYPE ${m.name} ${m.type}`);
      m.write(out);
    }
    return out.join('\n') + '\n';
  }
}

/** Content type of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Standard process metrics (`process_resident_memory_bytes`, CPU seconds, start time) on a registry. */
export function registerProcessMetrics(r: Registry): void {
  const start = Date.now() / 1000 - process.uptime();
  r.gauge({ name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', collect: (g) => g.set(process.memoryUsage.rss()) });
  r.gauge({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    collect: (g) => {
      const u = process.cpuUsage();
      g.set((u.user + u.system) / 1e6);
    },
  });
  r.gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.', collect: (g) => g.set(start) });
}

/**
 * Merges several text expositions into one (the proxy's 15020 endpoint: proxy and app metrics).
 * A metric family that appears in more than one input is kept from the first only, with its
 * HELP/TYPE lines, so the result stays valid.
 */
export function mergeExpositions(texts: string[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const text of texts) {
    let skip = false;
    const local = new Set<string>();
    for (const line of text.split('\n')) {
      if (!line) continue;
      const m = /^# (?:HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
      if (m) {
        const family = m[1];
        skip = seen.has(family);
        local.add(family);
        if (!skip) out.push(line);
        continue;
      }
      if (line.startsWith('#')) continue;
      if (!skip) out.push(line);
    }
    for (const f of local) seen.add(f);
  }
  return out.join('\n') + '\n';
}

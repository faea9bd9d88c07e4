/**
 * Envoy's local rate limit (`envoy.filters.http.local_ratelimit`, `LocalRateLimit`): a token
 * bucket per filter config — so per route when the config comes from a route's
 * `typed_per_filter_config`, as Istio's EnvoyFilter examples set it — answering 429 (or the
 * configured status) when empty. `filter_enabled` / `filter_enforced` fractions as in Envoy (unset
 * `filter_enabled` means the filter does nothing). The bucket refills lazily from a monotonic
 * clock: no timer per bucket.
 */
import { durationMs } from '@tsmesh/xds';
import { reject } from '../config/errors';
import { fields, rejectUnsupported } from '../config/fields';

type Dec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A token bucket: `max` tokens, `perFill` added every `intervalMs`. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(readonly max: number, readonly perFill: number, readonly intervalMs: number, private readonly now: () => number = performance.now.bind(performance)) {
    this.tokens = max;
    this.last = now();
  }

  /** Takes one token; false when none is left. */
  take(): boolean {
    const t = this.now();
    const fills = Math.floor((t - this.last) / this.intervalMs);
    if (fills > 0) {
      this.tokens = Math.min(this.max, this.tokens + fills * this.perFill);
      this.last += fills * this.intervalMs;
    }
    if (this.tokens <= 0) return false;
    this.tokens--;
    return true;
  }

  /** Tokens left now (for x-ratelimit headers and tests). */
  remaining(): number {
    return this.tokens;
  }
}

function fraction(f: Dec | null | undefined): number {
  const d = f?.default_value;
  if (!d) return 0;
  const den = d.denominator === 'TEN_THOUSAND' ? 10_000 : d.denominator === 'MILLION' ? 1_000_000 : 100;
  return Math.min(1, (d.numerator ?? 0) / den);
}

/** A compiled `LocalRateLimit`. */
export class LocalRateLimit {
  readonly status: number;
  readonly enabled: number;
  readonly enforced: number;
  readonly responseHeaders: [string, string][];
  readonly bucket: TokenBucket | null;
  readonly stats = { enabled: 0, ok: 0, rate_limited: 0, enforced: 0 };

  private constructor(cfg: Dec, field: string) {
    rejectUnsupported('envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit', cfg, fields('stat_prefix', 'status', 'token_bucket', 'filter_enabled', 'filter_enforced', 'response_headers_to_add', 'enable_x_ratelimit_headers', 'stage'), field);
    const tb = cfg.token_bucket as Dec | null;
    if (tb) {
      const max = Number(tb.max_tokens);
      const per = tb.tokens_per_fill ? Number(tb.tokens_per_fill.value) : 1;
      const interval = durationMs(tb.fill_interval);
      if (!(max > 0)) reject(`${field}.token_bucket.max_tokens`, 'must be positive');
      if (!(interval > 0)) reject(`${field}.token_bucket.fill_interval`, 'must be positive');
      this.bucket = new TokenBucket(max, per, interval);
    } else {
      this.bucket = null;
    }
    this.status = cfg.status?.code && cfg.status.code !== 'Empty' ? httpCode(cfg.status.code, `${field}.status.code`) : 429;
    this.enabled = fraction(cfg.filter_enabled);
    this.enforced = fraction(cfg.filter_enforced);
    this.responseHeaders = ((cfg.response_headers_to_add ?? []) as Dec[]).map((h) => [(h.header.key as string).toLowerCase(), h.header.value as string]);
  }

  /** Compiles a decoded `LocalRateLimit`. */
  static compile(cfg: Dec, field = 'typed_config'): LocalRateLimit {
    return new LocalRateLimit(cfg, field);
  }

  /** True when the filter does nothing (no bucket, or disabled): a listener-level placeholder for per-route configs. */
  get inert(): boolean {
    return this.bucket === null || this.enabled === 0;
  }

  /** Takes a token; true when the request must be refused with {@link status}. */
  limited(): boolean {
    if (this.bucket === null || this.enabled === 0) return false;
    if (this.enabled < 1 && Math.random() >= this.enabled) return false;
    this.stats.enabled++;
    if (this.bucket.take()) {
      this.stats.ok++;
      return false;
    }
    this.stats.rate_limited++;
    if (this.enforced === 0 || (this.enforced < 1 && Math.random() >= this.enforced)) return false;
    this.stats.enforced++;
    return true;
  }
}

const CODES: Record<string, number> = { TooManyRequests: 429, ServiceUnavailable: 503, Forbidden: 403, BadRequest: 400, Unauthorized: 401, OK: 200 };

function httpCode(name: string | number, field: string): number {
  if (typeof name === 'number') return name;
  const c = CODES[name] ?? (/^\d+$/.test(name) ? Number(name) : NaN);
  if (!(c >= 200 && c < 600)) reject(field, `status "${name}" is not supported`);
  return c;
}

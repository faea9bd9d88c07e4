/**
 * The HTTP filter stack of a connection manager, composed as `(next) => handler` layers:
 * fault injection (Envoy's `envoy.filters.http.fault`) then the router. The route is chosen
 * before the filters run, so per-route filter config applies (as in Envoy).
 */
import type { FaultConfig } from '../config/fault';
import { headerValue } from '../config/route';
import type { Exchange } from './exchange';
import { localReply } from './local-reply';
import { RF } from './response-flags';

/** One stage of the stack. */
export interface HttpHandler {
  handle(ex: Exchange): void;
}

/** A layer wraps the next handler. */
export type Layer = (next: HttpHandler) => HttpHandler;

/** Composes layers, outermost first. */
export function stack(layers: readonly Layer[], terminal: HttpHandler): HttpHandler {
  let h = terminal;
  for (let i = layers.length - 1; i >= 0; i--) h = layers[i](h);
  return h;
}

/** Fault injection: fixed delay and abort by percentage, per listener or overridden per route. */
export class FaultFilter implements HttpHandler {
  private active = 0;
  constructor(private readonly next: HttpHandler, private readonly listenerFault: FaultConfig | null) {}

  handle(ex: Exchange): void {
    const f = ex.route && ex.route.fault !== undefined ? ex.route.fault : this.listenerFault;
    if (f === null || !this.applies(f, ex)) {
      this.next.handle(ex);
      return;
    }
    const delay = f.delayMs > 0 && Math.random() < f.delayFraction;
    const abort = f.abortStatus > 0 && Math.random() < f.abortFraction;
    if (!delay && !abort) {
      this.next.handle(ex);
      return;
    }
    this.active++;
    if (delay) {
      ex.stats.fault_delays_injected++;
      ex.flags |= RF.DelayInjected;
      setTimeout(afterDelay, f.delayMs, this, ex, f, abort);
      return;
    }
    this.abort(ex, f);
  }

  private applies(f: FaultConfig, ex: Exchange): boolean {
    if (this.active >= f.maxActive) return false;
    for (const h of f.headers) if (!h.test(headerValue(ex, h.name))) return false;
    return true;
  }

  /** @internal */
  continueAfterDelay(ex: Exchange, f: FaultConfig, abort: boolean): void {
    if (ex.done) {
      this.active--;
      return;
    }
    if (abort) {
      this.abort(ex, f);
      return;
    }
    this.active--;
    this.next.handle(ex);
  }

  private abort(ex: Exchange, f: FaultConfig): void {
    this.active--;
    ex.stats.fault_aborts_injected++;
    ex.flags |= RF.FaultInjected;
    if (f.abortGrpcStatus >= 0) localReply(ex, 200, 'fault filter abort', null, f.abortGrpcStatus);
    else localReply(ex, f.abortStatus, 'fault filter abort', null);
  }
}

function afterDelay(filter: FaultFilter, ex: Exchange, f: FaultConfig, abort: boolean): void {
  filter.continueAfterDelay(ex, f, abort);
}

/** The fault layer. */
export function faultLayer(listenerFault: FaultConfig | null): Layer {
  return (next) => new FaultFilter(next, listenerFault);
}

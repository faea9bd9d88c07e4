/** The router (Envoy's `envoy.filters.http.router`): redirect, direct response, or forward to a cluster. */
import { ActionKind, type RedirectConfig } from '../config/route';
import type { Exchange } from './exchange';
import type { HttpHandler } from './filters';
import { localReply } from './local-reply';
import { forwardConnect, forwardUpgrade, isWebSocketUpgrade } from './upgrade';
import { RF } from './response-flags';
import type { RouteLevel } from './route-level';

/** Terminal handler of every HTTP filter stack. */
export class Router implements HttpHandler {
  constructor(private readonly routeLevel: RouteLevel) {}

  handle(ex: Exchange): void {
    const route = ex.route;
    if (route === null) {
      ex.stats.no_route++;
      ex.flags |= RF.NoRouteFound;
      localReply(ex, 404, '', null);
      return;
    }
    switch (route.actionKind) {
      case ActionKind.Redirect:
        ex.stats.rq_redirect++;
        redirect(ex, route.redirect!);
        return;
      case ActionKind.Direct: {
        ex.stats.rq_direct_response++;
        const body = route.directBody;
        const headers: Record<string, string | string[] | undefined> = {};
        route.responseMutation.apply(headers, null);
        ex.vhost!.responseMutation.apply(headers, null);
        ex.table!.responseMutation.apply(headers, null);
        if (body) {
          headers['content-type'] ??= 'text/plain';
          headers['content-length'] = String(body.length);
        } else headers['content-length'] = '0';
        ex.writeHead(route.directStatus, headers, false);
        ex.flushHead();
        ex.endWith(ex.method === 'HEAD' ? undefined : body ?? undefined);
        ex.finish(route.directStatus);
        return;
      }
      default: {
        const action = route.action!;
        let name = action.cluster;
        if (name === '') {
          ex.clusterIndex = action.pickCluster();
          name = action.weightedNames[ex.clusterIndex];
        }
        const cluster = ex.ctx.clusters.get(name);
        if (!cluster) {
          ex.stats.no_cluster++;
          ex.flags |= RF.NoClusterFound;
          localReply(ex, 503, '', null);
          return;
        }
        if (ex.method === 'CONNECT') {
          // a CONNECT reaches the router only after every filter passed; it becomes a tunnel
          // only where `upgrade_configs` enable CONNECT (the route's, else the connection manager's)
          if (!(action.connect ?? ex.connectEnabled)) {
            ex.stats.upgrades_refused++;
            localReply(ex, 403, 'upgrade not allowed', null);
            return;
          }
          ex.prepare(action, route, ex.vhost!, ex.table!);
          forwardConnect(ex, cluster, action);
          return;
        }
        if (ex.upgrade !== null && isWebSocketUpgrade(ex.method, ex.headers)) {
          // a WebSocket handshake reaches the router only after every filter passed
          if (!(action.websocket ?? ex.upgrade.websocket)) {
            ex.stats.upgrades_refused++;
            localReply(ex, 403, 'upgrade not allowed', null);
            return;
          }
          ex.prepare(action, route, ex.vhost!, ex.table!);
          forwardUpgrade(ex, cluster, action);
          return;
        }
        // any other Upgrade (h2c, ...) is an ordinary request: its upgrade headers are hop-by-hop
        ex.prepare(action, route, ex.vhost!, ex.table!);
        this.routeLevel.forward(ex, cluster, action);
      }
    }
  }
}

function redirect(ex: Exchange, r: RedirectConfig): void {
  let host = r.host || ex.authority;
  const scheme = r.scheme || ex.scheme;
  if (r.port) {
    const colon = host.lastIndexOf(':');
    if (colon > 0 && !host.endsWith(']')) host = host.slice(0, colon);
    host = `${host}:${r.port}`;
  } else if (r.scheme && r.scheme !== ex.scheme) {
    // Envoy drops the port when only the scheme changes
    const colon = host.lastIndexOf(':');
    if (colon > 0 && !host.endsWith(']')) host = host.slice(0, colon);
  }
  let path = ex.path;
  let query = ex.query;
  if (r.path !== null) {
    const q = r.path.indexOf('?');
    if (q >= 0) {
      path = r.path.slice(0, q);
      query = r.path.slice(q + 1);
    } else path = r.path;
  } else if (r.prefixRewrite !== null && ex.route) {
    path = r.prefixRewrite + path.slice(ex.route.path.length);
  } else if (r.regexRewrite !== null) {
    path = path.replace(r.regexRewrite, r.regexSubstitution);
  }
  if (r.stripQuery) query = '';
  const location = `${scheme}://${host}${path}${query ? `?${query}` : ''}`;
  ex.writeHead(r.status, { location, 'content-length': '0' }, false);
  ex.flushHead();
  ex.res.end();
  ex.finish(r.status);
}

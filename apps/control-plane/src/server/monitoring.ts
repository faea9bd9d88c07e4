/**
 * The monitoring port (15014): Prometheus metrics, readiness, proxy status, per-proxy config
 * dumps, config issues and the last push.
 *
 *   GET /metrics                              Prometheus text
 *   GET /ready                                200 once the first push context is built
 *   GET /debug/syncz                          proxies with sent / ACKed / NACKed versions per type (JSON)
 *   GET /debug/config_dump?proxyID=<node id>  the proxy's current resources, Envoy JSON, by message name (Listener, Cluster, ...)
 *   GET /debug/config_issues                  validation and read issues (JSON; ?format=text for lines)
 *   GET /debug/syncz?proxyID=<id|pod.ns>     one proxy: status, every resource's version and time since it changed, its pushes
 *   GET /debug/push_status[?limit=&proxy=]    the last pushes: trigger, steps, proxies reached and why, types and bytes, ACKs
 *   GET /debug/config_status?resource=K/ns/n  has the last change of a resource reached (been ACKed by) every proxy it affects
 *   GET /debug/registryz                      services and endpoints
 *   GET /debug/configz                        the accepted config of the last push context (Istio kinds, Services, Pods, …; Secrets without data)
 */
import express from 'express';
import type { Server } from 'node:http';
import { ALL_TYPE_URLS, messageNameOf, parseVhdsResourceName, TypeUrl, type EncodedResource, type ResourceTypeUrl } from '@tsmesh/xds';
import { formatIssue } from '@tsmesh/mesh-config';
import type { Discovery } from './discovery';
import { dumpResources } from '../xds/envoy-json';

/** Starts the monitoring HTTP server on `host:port` (port 0 picks one); resolves with the server and port. */
export async function startMonitoring(d: Discovery, host: string, port: number): Promise<{ server: Server; port: number }> {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', (_req, res) => {
    res.type('text/plain; version=0.0.4').send(d.metrics.text());
  });
  app.get('/ready', (_req, res) => {
    if (d.pushContext()) res.send('ok\n');
    else res.status(503).send('not ready\n');
  });
  app.get(['/debug/syncz', '/debug/proxy-status'], (req, res) => {
    const ref = req.query.proxyID ?? req.query.proxy;
    if (ref === undefined) {
      res.json(d.proxyStatus());
      return;
    }
    const one = d.proxyDetail(String(ref));
    if (!one) res.status(404).json({ error: `no connected proxy "${String(ref)}"`, proxies: d.connectedProxies().map((p) => p.id) });
    else res.json(one);
  });
  app.get('/debug/config_dump', (req, res) => {
    const id = String(req.query.proxyID ?? req.query.proxy ?? '');
    const snap = id ? d.snapshotOf(id) : undefined;
    if (!snap) {
      res.status(404).json({ error: id ? `no connected proxy "${id}"` : 'query parameter proxyID is required', proxies: d.connectedProxies().map((p) => p.id) });
      return;
    }
    // Keyed by message name (Listener, RouteConfiguration, Cluster, ClusterLoadAssignment, Secret).
    const resources: Record<string, unknown[]> = {};
    const versions: Record<string, string> = {};
    for (const t of ALL_TYPE_URLS) {
      const name = messageNameOf(t).slice(messageNameOf(t).lastIndexOf('.') + 1);
      const byType: Partial<Record<ResourceTypeUrl, EncodedResource[]>> = { [t]: [...snap.resources(t).values()] };
      resources[name] = Object.values(dumpResources(byType))[0] ?? [];
      // Private keys never leave the control plane through the debug port.
      if (name === 'Secret') for (const sec of resources[name] as { tls_certificate?: { private_key?: unknown } }[]) if (sec.tls_certificate?.private_key) sec.tls_certificate.private_key = '[redacted]';
      versions[name] = snap.version(t);
    }
    // A route table served by VHDS is shown as the proxy runs it: its header with the virtual hosts VHDS sends it (in generation order).
    const vhosts = [...snap.resources(TypeUrl.VirtualHost).values()];
    if (vhosts.length) {
      const json = resources.VirtualHost as Record<string, unknown>[];
      const byName = new Map([...vhosts].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((r, i) => [r.name, json[i]]));
      for (const rc of resources.RouteConfiguration as { name: string; vhds?: unknown; virtual_hosts?: unknown[] }[]) {
        if (!rc.vhds) continue;
        rc.virtual_hosts = vhosts.filter((v) => parseVhdsResourceName(v.name)?.routeConfig === rc.name).map((v) => {
          const { '@type': _t, ...vh } = byName.get(v.name) as Record<string, unknown>;
          return vh;
        });
      }
    }
    const envoyFilters = d.envoyFilterReport(id);
    res.json({ proxy: id, versions, resources, ...(envoyFilters ? { envoyFilters } : {}) });
  });
  app.get('/debug/config_issues', (req, res) => {
    const issues = d.configIssues();
    if (req.query.format === 'text') res.type('text/plain').send(issues.map(formatIssue).join('\n') + (issues.length ? '\n' : ''));
    else res.json(issues);
  });
  app.get('/debug/push_status', (req, res) => {
    const limit = req.query.limit !== undefined ? Number(req.query.limit) : undefined;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
      res.status(400).json({ error: `limit: "${String(req.query.limit)}" is not a non-negative integer` });
      return;
    }
    res.json(d.pushStatus({ limit, proxy: req.query.proxy ? String(req.query.proxy) : undefined, targets: req.query.targets !== 'false' }));
  });
  app.get('/debug/config_status', (req, res) => {
    const key = String(req.query.resource ?? '');
    if (key.split('/').length !== 3 || key.split('/').some((p) => !p)) {
      res.status(400).json({ error: `resource: "${key}" is not Kind/namespace/name` });
      return;
    }
    res.json(d.configStatus(key));
  });
  app.get('/debug/registryz', (_req, res) => {
    const push = d.pushContext();
    res.json((push?.registry.services ?? []).map((s) => ({ ...s, endpoints: push?.registry.endpoints.get(s.hostname) ?? [] })));
  });
  app.get('/debug/configz', (_req, res) => {
    const push = d.pushContext();
    if (!push) {
      res.status(503).json({ error: 'no push context yet' });
      return;
    }
    const out: unknown[] = [];
    for (const list of push.byKind.values()) {
      for (const r of list) {
        const o = r.object as { kind?: string; apiVersion?: string; metadata?: unknown; type?: string };
        // Secret material never leaves the control plane through the debug port.
        out.push(r.kind === 'Secret' ? { apiVersion: o.apiVersion ?? 'v1', kind: 'Secret', metadata: o.metadata, type: o.type } : r.object);
      }
    }
    res.json(out);
  });
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === 'object' && addr ? addr.port : port });
    });
    server.on('error', reject);
  });
}

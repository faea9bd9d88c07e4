/**
 * The part of a Kubernetes API server the control plane's Kubernetes tests need, over real HTTP:
 * recorded list payloads served by path, watches held open on them, and a kubeconfig pointing at
 * it. Each test adds the writes it checks by implementing `handle`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import * as k8s from '@kubernetes/client-node';

export const NOT_FOUND = '{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}';

export abstract class FakeApiServer {
  /** Recorded list payloads by path. */
  readonly lists: Map<string, string>;
  /** Open watches by list path. */
  readonly watches = new Map<string, Set<ServerResponse>>();
  port = 0;
  private server?: Server;

  constructor(lists: [path: string, payload: string][]) {
    this.lists = new Map(lists);
  }

  protected abstract handle(req: IncomingMessage, res: ServerResponse): void;

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server!.address() as { port: number }).port;
  }

  /** A kubeconfig for this server (token auth, as a service account's). */
  kubeConfig(): k8s.KubeConfig {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: `http://127.0.0.1:${this.port}`, skipTLSVerify: true }],
      users: [{ name: 'test', token: 'test-token' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'test' }],
      currentContext: 'fake',
    });
    return kc;
  }

  /** Serves `url`'s recorded list, or holds a watch open on it; false when no list is recorded there. */
  protected serveList(url: URL, res: ServerResponse): boolean {
    const list = this.lists.get(url.pathname);
    if (list === undefined) return false;
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.flushHeaders();
      let set = this.watches.get(url.pathname);
      if (!set) this.watches.set(url.pathname, (set = new Set()));
      set.add(res);
      res.on('close', () => set!.delete(res));
      return true;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(list);
    return true;
  }

  /** Sends a watch event (one JSON line) on every open watch of `path`; how many watches got it. */
  send(path: string, event: string): number {
    const set = this.watches.get(path) ?? new Set();
    for (const res of set) res.write(`${event.trim()}\n`);
    return set.size;
  }

  /** Drops every connection (the API server went away), keeping the server listening. */
  dropAll(): void {
    for (const set of this.watches.values()) for (const r of set) r.destroy();
    this.server?.closeAllConnections();
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}

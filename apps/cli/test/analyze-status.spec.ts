/**
 * `tsmesh analyze` shows the Gateway API status the control plane wrote beside a config file
 * (`<name>.status.yaml`, written here with the same functions the control plane's file store uses)
 * as TSM0104, next to the conditions it computes itself (TSM0103), and never reads the status file
 * as config.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gatewayApiStatus, kubernetesStatus, parseConfigYaml, renderStatusFile, statusFileFor } from '@tsmesh/mesh-config';
import { buildProgram } from '../src/cli';

const CONFIG = `apiVersion: v1
kind: Service
metadata: {name: web-istio, namespace: default}
spec: {clusterIP: 10.96.0.9, selector: {gateway.networking.k8s.io/gateway-name: web}, ports: [{name: http, port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: default}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: default}
spec:
  parentRefs: [{name: web}]
  rules: [{backendRefs: [{name: missing, port: 80}]}]
`;

describe('tsmesh analyze and written Gateway API status', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-analyze-status-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists the written status of each resource (TSM0104) with the address and reasons; the status file is not config', async () => {
    const file = join(dir, 'gateway.yaml');
    writeFileSync(file, CONFIG);
    const parsed = parseConfigYaml(CONFIG, file);
    const status = gatewayApiStatus(parsed.resources);
    const entries = parsed.resources.filter((r) => status.has(r.key)).map((r) => ({ r, status: kubernetesStatus(r, status.get(r.key)!, undefined, '2026-12-01T00:00:00Z') }));
    writeFileSync(statusFileFor(file), renderStatusFile(entries));
    let out = '';
    const p = buildProgram({ out: (s) => (out += s), err: () => undefined, exit: () => undefined });
    await p.parseAsync(['analyze', dir], { from: 'user' });
    const lines = out.split('\n');
    expect(lines).toContain(`Info [TSM0104] (KubernetesGateway default/web ${file}:6) status written by the control plane (${join(dir, 'gateway.status.yaml')}): Accepted=True Accepted, Programmed=True Programmed; addresses 10.96.0.9; listener http: 1 route(s), Accepted=True Accepted, Conflicted=False NoConflicts, ResolvedRefs=True ResolvedRefs, Programmed=True Programmed`);
    expect(lines.find((l) => l.startsWith('Info [TSM0104] (HTTPRoute default/shop'))).toMatch(/parent Gateway default\/web: Accepted=True Accepted, ResolvedRefs=False BackendNotFound$/);
    expect(lines.find((l) => l.startsWith('Error [TSM0103] (HTTPRoute default/shop'))).toMatch(/ResolvedRefs=False BackendNotFound/);
    expect(out).not.toMatch(/status\.yaml:\d/);
    expect(out).not.toMatch(/IST0106/);
  });
});

/**
 * The fidelity suite (test/fidelity/<case>/): realistic Istio configurations, each with what
 * `analyze` says about it (`analyze.txt`, istioctl's `Level [CODE] (Kind ns/name line) message`
 * form) and what each listed proxy gets (`<proxy>.json`, Envoy resources as proto3 JSON). A change
 * in validation, analysis or translation shows up as a diff here. Regenerate with UPDATE_GOLDEN=1
 * and review the diff.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatNodeId, type NodeId } from '@tsmesh/xds';
import { analyzeConfig, parseConfigYaml } from '@tsmesh/mesh-config';
import { PushContext } from '../src/model/push-context';
import { completeProxy, proxyFromNode } from '../src/model/proxy';
import { generate } from '../src/xds/generate';
import { dumpResources } from '../src/xds/envoy-json';

const dir = fileURLToPath(new URL('./fidelity/', import.meta.url));
const update = process.env.UPDATE_GOLDEN === '1';
const CASES = JSON.parse(readFileSync(`${dir}cases.json`, 'utf8')) as { case: string; proxies: { name: string; node: Omit<NodeId, 'domain'>; generator?: string }[] }[];

function golden(file: string, actual: string): void {
  if (update || !existsSync(file)) writeFileSync(file, actual);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

describe('fidelity suite', () => {
  for (const c of CASES) {
    describe(c.case, () => {
      const file = `${dir}${c.case}/config.yaml`;
      const parsed = parseConfigYaml(readFileSync(file, 'utf8'), `${c.case}/config.yaml`);
      const report = analyzeConfig({ resources: parsed.resources, unread: parsed.unread });

      it('analyze reports what istioctl would', () => {
        expect(parsed.issues).toEqual([]);
        const text = report.messages.map((m) => `${m.level} [${m.code}] (${m.origin}${m.reference ? ` ${m.reference.replace(/^.*:(\d+)$/, 'line $1')}` : ''}) ${m.message}\n`).join('');
        golden(`${dir}${c.case}/analyze.txt`, text || 'No validation issues found.\n');
      });

      for (const p of c.proxies) {
        it(`${p.name} gets ${c.case}/${p.name}.json`, () => {
          const push = new PushContext(report.validation.accepted, 'fidelity');
          const node = { id: formatNodeId(p.node), ...(p.generator ? { metadata: { fields: { GENERATOR: { kind: 'stringValue', stringValue: p.generator } } } } : {}) };
          const proxy = completeProxy(proxyFromNode(node as never), push);
          golden(`${dir}${c.case}/${p.name}.json`, `${JSON.stringify(dumpResources(generate(push, proxy).resources), null, 2)}\n`);
        });
      }
    });
  }
});

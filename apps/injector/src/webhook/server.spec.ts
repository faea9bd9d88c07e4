import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { DEFAULT_CONFIG } from '../inject/config';
import { startWebhookServer, type WebhookServer } from './server';

const fixture = readFileSync(resolve(import.meta.dirname, '../../testdata/admission-review/deployment-pod.enabled-namespace.json'), 'utf8');

/** A self-signed P-256 certificate for the injector's service name and 127.0.0.1, made with openssl. */
function makeCert(dir: string, cn: string): { cert: string; key: string } {
  const keyFile = join(dir, `${cn}.key`);
  const certFile = join(dir, `${cn}.crt`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-keyout', keyFile, '-out', certFile, '-subj', `/CN=${cn}`,
    '-addext', 'subjectAltName=DNS:istio-sidecar-injector.istio-system.svc,IP:127.0.0.1',
  ], { stdio: 'ignore' });
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

interface Reply {
  status: number;
  body: string;
  peerCn: string;
}

function post(port: number, ca: string, path: string, body: string, contentType = 'application/json'): Promise<Reply> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', ca, agent: false, headers: { 'content-type': contentType } }, (res) => {
      const cert = (res.socket as TLSSocket).getPeerCertificate();
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (data += c));
      res.on('end', () => resolvePromise({ status: res.statusCode!, body: data, peerCn: String(cert.subject?.CN) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('webhook server (HTTPS)', () => {
  let dir: string;
  let first: { cert: string; key: string };
  let server: WebhookServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'injector-certs-'));
    first = makeCert(dir, 'first');
    writeFileSync(join(dir, 'tls.crt'), first.cert);
    writeFileSync(join(dir, 'tls.key'), first.key);
    server = await startWebhookServer(
      { config: DEFAULT_CONFIG },
      { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), port: 0, host: '127.0.0.1', certCheckIntervalMs: 60_000 },
      pino({ level: 'silent' }),
    );
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a Pod review with a JSON Patch', async () => {
    const reply = await post(server.port, first.cert, '/inject', fixture);
    expect(reply.status).toBe(200);
    const review = JSON.parse(reply.body);
    expect(review.response).toMatchObject({ uid: JSON.parse(fixture).request.uid, allowed: true, patchType: 'JSONPatch' });
    expect(JSON.parse(Buffer.from(review.response.patch, 'base64').toString()).length).toBeGreaterThan(0);
    const sub = await post(server.port, first.cert, '/inject/cluster/Kubernetes/net/network1', fixture);
    expect(JSON.parse(sub.body).response.patchType).toBe('JSONPatch');
  });

  it('answers malformed requests with an AdmissionReview error, and keeps serving', async () => {
    const cases: [string, string, number, RegExp][] = [
      ['{"kind": "AdmissionReview", ', 'application/json', 400, /^malformed AdmissionReview: invalid JSON/],
      ['', 'application/json', 400, /^malformed AdmissionReview: empty body/],
      ['kind: AdmissionReview', 'application/yaml', 415, /content-type must be application\/json/],
      ['{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}', 'application/json', 200, /request is missing/],
    ];
    for (const [body, type, status, message] of cases) {
      const reply = await post(server.port, first.cert, '/inject', body, type);
      expect(reply.status).toBe(status);
      const review = JSON.parse(reply.body);
      expect(review.kind).toBe('AdmissionReview');
      expect(review.response.allowed).toBe(false);
      expect(review.response.status.message).toMatch(message);
    }
    expect((await post(server.port, first.cert, '/inject', fixture)).status).toBe(200);
  });

  it('counts each review by outcome in sidecar_injection_* metrics at GET /metrics', async () => {
    const scrape = async () => {
      const text = await new Promise<string>((resolvePromise, reject) => {
        request({ host: '127.0.0.1', port: server.port, path: '/metrics', ca: first.cert, agent: false }, (res) => {
          let data = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (data += c));
          res.on('end', () => resolvePromise(data));
        }).on('error', reject).end();
      });
      const value = (series: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${series} `));
        if (line === undefined) throw new Error(`no series ${series} in:\n${text}`);
        return Number(line.slice(series.length + 1));
      };
      return {
        text,
        requests: value('sidecar_injection_requests_total'),
        success: value('sidecar_injection_success_total'),
        skip: value('sidecar_injection_skip_total'),
        inject: value('sidecar_injection_failure_total{type="inject"}'),
        decode: value('sidecar_injection_failure_total{type="decode"}'),
      };
    };
    const review = (f: string) => readFileSync(resolve(import.meta.dirname, `../../testdata/admission-review/${f}`), 'utf8');
    const before = await scrape();
    expect((await post(server.port, first.cert, '/inject', fixture)).status).toBe(200);
    expect((await post(server.port, first.cert, '/inject', review('deployment-pod.annotation-inject-false.json'))).status).toBe(200);
    expect(JSON.parse((await post(server.port, first.cert, '/inject', review('deployment-pod.bad-traffic-annotation.json'))).body).response.allowed).toBe(false);
    expect((await post(server.port, first.cert, '/inject', '{"kind": ')).status).toBe(400);
    const after = await scrape();
    expect({
      requests: after.requests - before.requests, success: after.success - before.success, skip: after.skip - before.skip,
      inject: after.inject - before.inject, decode: after.decode - before.decode,
    }).toEqual({ requests: 4, success: 1, skip: 1, inject: 1, decode: 1 });
    expect(after.text).toMatch(/^process_resident_memory_bytes [1-9]\d*$/m);
  });

  it('reloads a rotated certificate, and keeps the old one when the new files are bad', async () => {
    expect((await post(server.port, first.cert, '/inject', fixture)).peerCn).toBe('first');
    // A half-written rotation: the new certificate with the old key. Kept out.
    const second = makeCert(dir, 'second');
    writeFileSync(join(dir, 'tls.crt.tmp'), second.cert);
    renameSync(join(dir, 'tls.crt.tmp'), join(dir, 'tls.crt'));
    server.reloadNow();
    expect((await post(server.port, first.cert, '/inject', fixture)).peerCn).toBe('first');
    // The key arrives: the new pair is served.
    writeFileSync(join(dir, 'tls.key.tmp'), second.key);
    renameSync(join(dir, 'tls.key.tmp'), join(dir, 'tls.key'));
    server.reloadNow();
    const reply = await post(server.port, second.cert, '/inject', fixture);
    expect(reply.peerCn).toBe('second');
    expect(new X509Certificate(second.cert).subject).toBe('CN=second');
  });
});

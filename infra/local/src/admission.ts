/**
 * Mutating admission as the API server does it for pod CREATE: pick the webhooks of every
 * MutatingWebhookConfiguration whose rules, namespaceSelector and objectSelector match, POST an
 * `admission.k8s.io/v1` AdmissionReview over HTTPS (verified against the webhook's caBundle and
 * the Service's DNS name), apply the returned JSONPatch; failurePolicy decides what an error does.
 */
import { request } from 'node:https';
import { randomUUID } from 'node:crypto';
import { applyJsonPatch, type PatchOperation } from './json-patch';
import { matchesSelector, type KubeObject, type LabelSelector, type PodObject } from './kube';

/** One webhook of a MutatingWebhookConfiguration. */
export interface MutatingWebhook {
  name: string;
  clientConfig: { url?: string; service?: { name: string; namespace: string; path?: string; port?: number }; caBundle?: string };
  rules?: { operations?: string[]; apiGroups?: string[]; apiVersions?: string[]; resources?: string[]; scope?: string }[];
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  failurePolicy?: 'Fail' | 'Ignore';
  timeoutSeconds?: number;
  reinvocationPolicy?: string;
}

/** A webhook that rejected the pod, or could not be called with failurePolicy Fail. */
export class AdmissionError extends Error {
  readonly code = 'LOCAL_ADMISSION';
  constructor(readonly webhook: string, reason: string, readonly retriable: boolean) {
    super(`admission webhook "${webhook}": ${reason}`);
    this.name = 'AdmissionError';
  }
}

/** How a webhook's Service is reached from the host: the address and port to connect to and the TLS name to verify. */
export type ServiceResolver = (namespace: string, name: string, port: number) => { host: string; port: number } | undefined;

function ruleMatchesPodCreate(w: MutatingWebhook): boolean {
  return (w.rules ?? []).some((r) => {
    const any = (list: string[] | undefined, v: string) => !list || list.includes('*') || list.includes(v);
    return any(r.operations, 'CREATE') && any(r.apiGroups, '') && any(r.apiVersions, 'v1') && (any(r.resources, 'pods') || (r.resources ?? []).includes('pods/*'));
  });
}

/** The webhooks that apply to creating `pod` in a namespace with `namespaceLabels` (which include `kubernetes.io/metadata.name`). */
export function matchingWebhooks(configs: KubeObject[], pod: PodObject, namespaceLabels: Record<string, string>): MutatingWebhook[] {
  const out: MutatingWebhook[] = [];
  const sorted = [...configs].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  for (const cfg of sorted) {
    for (const w of (cfg.webhooks ?? []) as MutatingWebhook[]) {
      if (!ruleMatchesPodCreate(w)) continue;
      if (!matchesSelector(w.namespaceSelector, namespaceLabels)) continue;
      if (!matchesSelector(w.objectSelector, pod.metadata.labels ?? {})) continue;
      out.push(w);
    }
  }
  return out;
}

/** Posts a JSON body over HTTPS and parses the JSON answer. */
function postJson(url: URL, connectTo: { host: string; port: number }, ca: string | undefined, body: unknown, timeoutMs: number): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(JSON.stringify(body));
    const req = request(
      {
        host: connectTo.host,
        port: connectTo.port,
        servername: url.hostname,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': payload.length, host: url.host },
        ca,
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
          } catch (err) {
            reject(new Error(`HTTP ${res.statusCode}: response is not JSON (${(err as Error).message})`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Sends `pod` through one webhook; returns the patched pod. */
export async function callWebhook(w: MutatingWebhook, pod: PodObject, resolve: ServiceResolver): Promise<PodObject> {
  let url: URL;
  let connectTo: { host: string; port: number };
  if (w.clientConfig.url) {
    url = new URL(w.clientConfig.url);
    connectTo = { host: url.hostname, port: Number(url.port || 443) };
  } else if (w.clientConfig.service) {
    const s = w.clientConfig.service;
    const port = s.port ?? 443;
    url = new URL(`https://${s.name}.${s.namespace}.svc:${port}${s.path ?? '/'}`);
    const target = resolve(s.namespace, s.name, port);
    if (!target) throw new AdmissionError(w.name, `service ${s.namespace}/${s.name} not found`, true);
    connectTo = target;
  } else throw new AdmissionError(w.name, 'clientConfig has neither url nor service', false);
  const ca = w.clientConfig.caBundle ? Buffer.from(w.clientConfig.caBundle, 'base64').toString('utf8') : undefined;
  const uid = randomUUID();
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      name: pod.metadata.name,
      namespace: pod.metadata.namespace,
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
  let answer: { status: number; json: unknown };
  try {
    answer = await postJson(url, connectTo, ca, review, (w.timeoutSeconds ?? 10) * 1000);
  } catch (err) {
    throw new AdmissionError(w.name, `failed calling webhook ${url.href}: ${(err as Error).message}`, true);
  }
  const resp = (answer.json as { response?: { uid?: string; allowed?: boolean; patch?: string; patchType?: string; status?: { message?: string; code?: number } } }).response;
  if (!resp) throw new AdmissionError(w.name, `HTTP ${answer.status}: no response in the AdmissionReview`, answer.status >= 500);
  if (resp.uid !== uid) throw new AdmissionError(w.name, `response uid ${resp.uid} does not match request uid ${uid}`, false);
  if (!resp.allowed) throw new AdmissionError(w.name, `denied the request: ${resp.status?.message ?? 'no reason given'}`, false);
  if (!resp.patch) return pod;
  if (resp.patchType !== 'JSONPatch') throw new AdmissionError(w.name, `patchType ${resp.patchType} is not JSONPatch`, false);
  const ops = JSON.parse(Buffer.from(resp.patch, 'base64').toString('utf8')) as PatchOperation[];
  try {
    return applyJsonPatch(pod, ops);
  } catch (err) {
    throw new AdmissionError(w.name, (err as Error).message, false);
  }
}

/** Runs every matching webhook in order; with failurePolicy Ignore a failing call leaves the pod as it was. */
export async function admitPod(configs: KubeObject[], pod: PodObject, namespaceLabels: Record<string, string>, resolve: ServiceResolver, log: (msg: string) => void = () => undefined): Promise<{ pod: PodObject; webhooks: string[] }> {
  let cur = pod;
  const called: string[] = [];
  for (const w of matchingWebhooks(configs, pod, namespaceLabels)) {
    try {
      cur = await callWebhook(w, cur, resolve);
      called.push(w.name);
    } catch (err) {
      if ((w.failurePolicy ?? 'Fail') === 'Ignore') log(`${(err as Error).message} (failurePolicy Ignore)`);
      else throw err;
    }
  }
  return { pod: cur, webhooks: called };
}

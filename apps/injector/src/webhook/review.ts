import type { V1Pod } from '@kubernetes/client-node';
import { InjectorError, MalformedReviewError } from '../errors';
import type { InjectionConfig } from '../inject/config';
import { diffToPatch, type JsonPatchOp } from '../inject/patch';
import { decideInjection } from '../inject/policy';
import { injectPod } from '../inject/template';
import { podWorkload } from '../inject/workload';
import type { InjectorMetrics } from './metrics';

/** The `response` of an `admission.k8s.io/v1` AdmissionReview. */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  /** Base64 of the JSON Patch. */
  patch?: string;
  status?: { code: number; message: string; reason?: string };
  warnings?: string[];
}

/** An `admission.k8s.io/v1` AdmissionReview carrying a response. */
export interface AdmissionReviewResponse {
  /** The request's apiVersion (the API server requires the same one back). */
  apiVersion: 'admission.k8s.io/v1' | 'admission.k8s.io/v1beta1';
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** Looks up a namespace's labels; undefined when the namespace cannot be known. */
export type NamespaceLabels = (namespace: string) => Promise<Record<string, string> | undefined>;

/** What the review handler needs besides the review. */
export interface ReviewDeps {
  config: InjectionConfig;
  /** Namespace label lookup; absent means the webhook's selectors are trusted. */
  namespaceLabels?: NamespaceLabels;
  /** Called once per review with the outcome, for logging. */
  onDecision?: (info: { uid: string; namespace: string; pod: string; inject: boolean; reason: string; patchOps?: number }) => void;
  /** Counts each review's outcome by Istio's `sidecar_injection_*` names. */
  metrics?: InjectorMetrics;
}

/** The result of handling one review: the AdmissionReview to send back and the JSON Patch (if any). */
export interface ReviewResult {
  review: AdmissionReviewResponse;
  patch?: JsonPatchOp[];
}

const wrap = (response: AdmissionResponse, apiVersion: AdmissionReviewResponse['apiVersion'] = 'admission.k8s.io/v1'): AdmissionReviewResponse => ({
  apiVersion, kind: 'AdmissionReview', response,
});

/** An AdmissionReview that denies with an explanation (used for malformed input and refused pods). */
export function errorReview(
  uid: string, code: number, message: string, reason = 'BadRequest', apiVersion: AdmissionReviewResponse['apiVersion'] = 'admission.k8s.io/v1',
): AdmissionReviewResponse {
  return wrap({ uid, allowed: false, status: { code, message, reason } }, apiVersion);
}

interface ReviewRequest {
  apiVersion: AdmissionReviewResponse['apiVersion'];
  uid: string;
  kind: { group: string; version: string; kind: string };
  namespace?: string;
  operation?: string;
  object: V1Pod;
}

/** Checks the AdmissionReview envelope; throws {@link MalformedReviewError} naming what is wrong. */
export function parseReview(body: unknown): ReviewRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new MalformedReviewError('body must be a JSON object');
  const review = body as Record<string, unknown>;
  if (review.kind !== 'AdmissionReview') throw new MalformedReviewError(`kind must be "AdmissionReview", got ${JSON.stringify(review.kind)}`);
  if (review.apiVersion !== 'admission.k8s.io/v1' && review.apiVersion !== 'admission.k8s.io/v1beta1') {
    throw new MalformedReviewError(`apiVersion must be "admission.k8s.io/v1", got ${JSON.stringify(review.apiVersion)}`);
  }
  const request = review.request as Record<string, unknown> | undefined;
  if (typeof request !== 'object' || request === null) throw new MalformedReviewError('request is missing');
  if (typeof request.uid !== 'string' || request.uid === '') throw new MalformedReviewError('request.uid must be a non-empty string');
  const kind = request.kind as ReviewRequest['kind'] | undefined;
  if (typeof kind !== 'object' || kind === null || typeof kind.kind !== 'string') throw new MalformedReviewError('request.kind must be a GroupVersionKind');
  if (request.namespace !== undefined && typeof request.namespace !== 'string') throw new MalformedReviewError('request.namespace must be a string');
  return { ...(request as unknown as ReviewRequest), apiVersion: review.apiVersion };
}

/**
 * Handles one AdmissionReview: parses it, decides, injects and answers with a JSON Patch. Never
 * throws: a malformed review or a pod that cannot be injected is answered with `allowed: false`
 * and a status naming what and why; anything but a Pod CREATE is allowed unchanged.
 */
export async function handleReview(body: unknown, deps: ReviewDeps): Promise<ReviewResult> {
  let request: ReviewRequest;
  try {
    request = parseReview(body);
  } catch (err) {
    const uid = (body as { request?: { uid?: unknown } } | null)?.request?.uid;
    deps.metrics?.record('failure', 'decode');
    return { review: errorReview(typeof uid === 'string' ? uid : '', 400, (err as Error).message) };
  }
  const { uid } = request;
  if (request.kind.kind !== 'Pod' || (request.kind.group ?? '') !== '' || (request.operation !== undefined && request.operation !== 'CREATE')) {
    return { review: wrap({ uid, allowed: true }, request.apiVersion) };
  }
  const pod = request.object;
  if (typeof pod !== 'object' || pod === null || Array.isArray(pod)) {
    deps.metrics?.record('failure', 'decode');
    return { review: errorReview(uid, 400, 'malformed AdmissionReview: request.object must be a Pod object', 'BadRequest', request.apiVersion) };
  }
  const namespace = request.namespace || pod.metadata?.namespace || 'default';
  const podName = pod.metadata?.name || `${pod.metadata?.generateName ?? ''}<generated>`;
  const resource = `Pod ${namespace}/${podName}`;
  try {
    let nsLabels: Record<string, string> | undefined;
    if (deps.namespaceLabels) nsLabels = await deps.namespaceLabels(namespace);
    const decision = decideInjection(pod, namespace, nsLabels);
    if (!decision.inject) {
      deps.onDecision?.({ uid, namespace, pod: podName, inject: false, reason: decision.reason });
      deps.metrics?.record('skip');
      return { review: wrap({ uid, allowed: true }, request.apiVersion) };
    }
    const injected = injectPod(pod, { namespace, workload: podWorkload(pod.metadata ?? {}, namespace), resource }, deps.config);
    const patch = diffToPatch(pod, injected);
    deps.onDecision?.({ uid, namespace, pod: podName, inject: true, reason: decision.reason, patchOps: patch.length });
    deps.metrics?.record('success');
    return {
      review: wrap({ uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }, request.apiVersion),
      patch,
    };
  } catch (err) {
    const message = err instanceof InjectorError ? err.message : `${resource}: injection failed: ${(err as Error).message}`;
    deps.onDecision?.({ uid, namespace, pod: podName, inject: false, reason: message });
    deps.metrics?.record('failure', 'inject');
    const known = err instanceof InjectorError;
    return { review: errorReview(uid, known ? 400 : 500, message, known ? 'Invalid' : 'InternalError', request.apiVersion) };
  }
}

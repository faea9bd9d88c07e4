/** Base of the injector's named errors: each has a stable `code`. */
export class InjectorError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** An AdmissionReview that cannot be read: bad JSON, wrong apiVersion/kind, missing request fields. */
export class MalformedReviewError extends InjectorError {
  constructor(reason: string) {
    super('INJECT_MALFORMED_REVIEW', `malformed AdmissionReview: ${reason}`);
  }
}

/** A Pod (or pod template) the injector refuses, naming the resource, field and reason. */
export class InvalidPodError extends InjectorError {
  constructor(readonly resource: string, readonly field: string, reason: string) {
    super('INJECT_INVALID_POD', `${resource}: ${field}: ${reason}`);
  }
}

/** A kube-inject input that is not valid YAML or not a Kubernetes object. */
export class InvalidManifestError extends InjectorError {
  constructor(readonly source: string, reason: string) {
    super('INJECT_INVALID_MANIFEST', `${source}: ${reason}`);
  }
}

/** The webhook's serving certificate or key cannot be loaded. */
export class CertificateError extends InjectorError {
  constructor(reason: string) {
    super('INJECT_CERTIFICATE', reason);
  }
}

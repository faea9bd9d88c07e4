/**
 * Kubernetes authentication: each token is checked by the API server with a TokenReview
 * (`authentication.k8s.io/v1`), through @kubernetes/client-node. The username must be a service
 * account, and the reviewed audiences must include one of ours.
 */
import { AuthenticationV1Api, type KubeConfig, type V1TokenReview } from '@kubernetes/client-node';
import { parseServiceAccountUsername } from '@tsmesh/certs';
import type { Authenticator, Caller } from './authenticator';
import { NotServiceAccountError, TokenInvalidError, TokenReviewUnavailableError } from '../errors';

/** Asks the API server about each token. */
export class TokenReviewAuthenticator implements Authenticator {
  private readonly api: AuthenticationV1Api;

  constructor(kubeConfig: KubeConfig, private readonly audiences: string[], private readonly timeoutMs = 10_000) {
    this.api = kubeConfig.makeApiClient(AuthenticationV1Api);
  }

  async authenticate(token: string): Promise<Caller> {
    let review: V1TokenReview;
    let timer: NodeJS.Timeout | undefined;
    try {
      const call = this.api.createTokenReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: this.audiences } },
      });
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      });
      review = await Promise.race([call, timeout]);
    } catch (err) {
      throw new TokenReviewUnavailableError((err as Error).message, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    return callerFromReview(review, this.audiences);
  }
}

/** The caller a TokenReview response proves, or the reason it proves none. */
export function callerFromReview(review: V1TokenReview, audiences: string[]): Caller {
  const status = review.status;
  if (!status?.authenticated) throw new TokenInvalidError(`TokenReview refused the token${status?.error ? `: ${status.error}` : ''}`);
  const username = status.user?.username ?? '';
  const sa = parseServiceAccountUsername(username);
  if (!sa) throw new NotServiceAccountError(username);
  if (audiences.length > 0 && status.audiences && !status.audiences.some((a) => audiences.includes(a))) {
    throw new TokenInvalidError(`token audiences [${status.audiences.join(', ')}] do not include ${audiences.join(' or ')}`);
  }
  return { ...sa, via: 'tokenreview' };
}

// security.istio.io: PeerAuthentication, AuthorizationPolicy, RequestAuthentication.
import { bool, duration, labels, list, mapOf, obj, oneOfStrings, str, strings, type Schema } from './schema';

const selector: Schema = obj({ matchLabels: labels() });
const targetRef: Schema = obj({ group: str(), kind: str(), name: str(), namespace: str() }, { required: ['kind', 'name'] });
const mtlsMode = oneOfStrings(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT']);

/** PeerAuthentication: whether a workload accepts plaintext, mTLS or both. */
export const peerAuthenticationSpec: Schema = obj({
  selector,
  mtls: obj({ mode: mtlsMode }),
  portLevelMtls: mapOf(obj({ mode: mtlsMode })),
});

const source: Schema = obj({
  principals: strings(), notPrincipals: strings(), requestPrincipals: strings(), notRequestPrincipals: strings(),
  namespaces: strings(), notNamespaces: strings(), ipBlocks: strings(), notIpBlocks: strings(),
  remoteIpBlocks: strings(), notRemoteIpBlocks: strings(), serviceAccounts: strings(), notServiceAccounts: strings(),
});
const operation: Schema = obj({
  hosts: strings(), notHosts: strings(), ports: strings(), notPorts: strings(),
  methods: strings(), notMethods: strings(), paths: strings(), notPaths: strings(),
});

/** AuthorizationPolicy: allow/deny rules over sources, operations and conditions. */
export const authorizationPolicySpec: Schema = obj({
  selector,
  targetRef,
  targetRefs: list(targetRef),
  rules: list(obj({
    from: list(obj({ source })),
    to: list(obj({ operation })),
    when: list(obj({ key: str(), values: strings(), notValues: strings() }, { required: ['key'] })),
  })),
  action: oneOfStrings(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']),
  provider: obj({ name: str() }),
});

/** RequestAuthentication: which JWTs a workload accepts. */
export const requestAuthenticationSpec: Schema = obj({
  selector,
  targetRef,
  targetRefs: list(targetRef),
  jwtRules: list(obj({
    issuer: str(), audiences: strings(), jwksUri: str(), jwks: str(),
    fromHeaders: list(obj({ name: str(), prefix: str() }, { required: ['name'] })),
    fromParams: strings(), fromCookies: strings(), outputPayloadToHeader: str(), forwardOriginalToken: bool(),
    outputClaimToHeaders: list(obj({ header: str(), claim: str() })), timeout: duration(),
  }, { required: ['issuer'] })),
});

// The Istio-compatible CustomResourceDefinitions, as objects ready to be written as YAML.
import { authorizationPolicySpec, peerAuthenticationSpec, requestAuthenticationSpec } from './security';
import { destinationRuleSpec, gatewaySpec, serviceEntrySpec, sidecarSpec, virtualServiceSpec } from './networking';
import { anyObject, type Schema } from './schema';

interface Column {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
}

interface Kind {
  group: 'networking.istio.io' | 'security.istio.io';
  kind: string;
  plural: string;
  shortNames?: string[];
  spec: Schema;
  description: string;
  /** Served versions, the storage one first (Istio's choice). */
  versions: string[];
  columns?: Column[];
}

const NETWORKING_VERSIONS = ['v1alpha3', 'v1beta1', 'v1'];
const SECURITY_VERSIONS = ['v1beta1', 'v1'];
const age: Column = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

/** Every kind tsmesh accepts, with Istio's group, plural, short names and versions. */
export const KINDS: Kind[] = [
  {
    group: 'networking.istio.io', kind: 'VirtualService', plural: 'virtualservices', shortNames: ['vs'], spec: virtualServiceSpec,
    description: 'Configuration affecting label/content routing, sni routing, etc.', versions: NETWORKING_VERSIONS,
    columns: [
      { name: 'Gateways', type: 'string', jsonPath: '.spec.gateways', description: 'The names of gateways and sidecars that should apply these routes' },
      { name: 'Hosts', type: 'string', jsonPath: '.spec.hosts', description: 'The destination hosts to which traffic is being sent' },
      age,
    ],
  },
  {
    group: 'networking.istio.io', kind: 'DestinationRule', plural: 'destinationrules', shortNames: ['dr'], spec: destinationRuleSpec,
    description: 'Configuration affecting load balancing, outlier detection, etc.', versions: NETWORKING_VERSIONS,
    columns: [{ name: 'Host', type: 'string', jsonPath: '.spec.host', description: 'The name of a service from the service registry' }, age],
  },
  {
    group: 'networking.istio.io', kind: 'Gateway', plural: 'gateways', shortNames: ['gw'], spec: gatewaySpec,
    description: 'Configuration affecting edge load balancer.', versions: NETWORKING_VERSIONS,
  },
  {
    group: 'networking.istio.io', kind: 'ServiceEntry', plural: 'serviceentries', shortNames: ['se'], spec: serviceEntrySpec,
    description: "Configuration affecting service registry.", versions: NETWORKING_VERSIONS,
    columns: [
      { name: 'Hosts', type: 'string', jsonPath: '.spec.hosts', description: 'The hosts associated with the ServiceEntry' },
      { name: 'Location', type: 'string', jsonPath: '.spec.location', description: 'Whether the service is external to the mesh or part of the mesh (MESH_EXTERNAL or MESH_INTERNAL)' },
      { name: 'Resolution', type: 'string', jsonPath: '.spec.resolution', description: 'Service resolution mode for the hosts (NONE, STATIC, or DNS)' },
      age,
    ],
  },
  {
    group: 'networking.istio.io', kind: 'Sidecar', plural: 'sidecars', spec: sidecarSpec,
    description: 'Configuration affecting network reachability of a sidecar.', versions: NETWORKING_VERSIONS,
  },
  {
    group: 'security.istio.io', kind: 'PeerAuthentication', plural: 'peerauthentications', shortNames: ['pa'], spec: peerAuthenticationSpec,
    description: 'Peer authentication configuration for workloads.', versions: SECURITY_VERSIONS,
    columns: [
      { name: 'Mode', type: 'string', jsonPath: '.spec.mtls.mode', description: 'Defines the mTLS mode used for peer authentication.' },
      age,
    ],
  },
  {
    group: 'security.istio.io', kind: 'AuthorizationPolicy', plural: 'authorizationpolicies', shortNames: ['ap'], spec: authorizationPolicySpec,
    description: 'Configuration for access control on workloads.', versions: SECURITY_VERSIONS,
    columns: [
      { name: 'Action', type: 'string', jsonPath: '.spec.action', description: 'The operation to take.' },
      age,
    ],
  },
  {
    group: 'security.istio.io', kind: 'RequestAuthentication', plural: 'requestauthentications', shortNames: ['ra'], spec: requestAuthenticationSpec,
    description: 'Request authentication configuration for workloads.', versions: SECURITY_VERSIONS,
  },
];

/** The CustomResourceDefinition (apiextensions.k8s.io/v1) for one kind. */
export function crdFor(k: Kind): Record<string, unknown> {
  const categories = ['istio-io', k.group.replace(/\./g, '-')];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${k.plural}.${k.group}`,
      labels: { 'app.kubernetes.io/part-of': 'tsmesh', 'app.kubernetes.io/component': 'crds' },
    },
    spec: {
      group: k.group,
      names: {
        kind: k.kind,
        listKind: `${k.kind}List`,
        plural: k.plural,
        singular: k.kind.toLowerCase(),
        ...(k.shortNames ? { shortNames: k.shortNames } : {}),
        categories,
      },
      scope: 'Namespaced',
      versions: k.versions.map((name, i) => ({
        name,
        served: true,
        storage: i === 0,
        ...(k.columns ? { additionalPrinterColumns: k.columns } : {}),
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { ...k.spec, description: k.description },
              status: anyObject(),
            },
            required: ['spec'],
          },
        },
        subresources: { status: {} },
      })),
    },
  };
}

/** File name (under infra/k8s/base/crds) and CRD object for every kind. */
export function allCrds(): { file: string; crd: Record<string, unknown> }[] {
  return KINDS.map((k) => ({ file: `${k.plural}.${k.group}.yaml`, crd: crdFor(k) }));
}

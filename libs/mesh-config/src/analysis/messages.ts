/** istioctl's analysis message types (code, name, level), and tsmesh's own where istioctl has none. */

/** Message level, ordered Info < Warning < Error as istioctl orders them. */
export type Level = 'Info' | 'Warning' | 'Error';

/** Numeric order of a level (for `--failure-threshold` and `--output-threshold`). */
export const LEVEL_ORDER: Readonly<Record<Level, number>> = { Info: 0, Warning: 1, Error: 2 };

/** A message type: its stable code, name and level. */
export interface MessageType {
  code: string;
  name: string;
  level: Level;
}

const t = (code: string, name: string, level: Level): MessageType => ({ code, name, level });

/** The message types `analyze` reports (istioctl's codes and levels; `TSM*` where istioctl has none). */
export const MESSAGES = {
  InternalError: t('IST0001', 'InternalError', 'Error'),
  ReferencedResourceNotFound: t('IST0101', 'ReferencedResourceNotFound', 'Error'),
  SchemaValidationError: t('IST0106', 'SchemaValidationError', 'Error'),
  ConflictingMeshGatewayVirtualServiceHosts: t('IST0109', 'ConflictingMeshGatewayVirtualServiceHosts', 'Error'),
  ConflictingSidecarWorkloadSelectors: t('IST0110', 'ConflictingSidecarWorkloadSelectors', 'Error'),
  MultipleSidecarsWithoutWorkloadSelectors: t('IST0111', 'MultipleSidecarsWithoutWorkloadSelectors', 'Error'),
  InvalidRegexp: t('IST0122', 'InvalidRegexp', 'Warning'),
  NoMatchingWorkloadsFound: t('IST0127', 'NoMatchingWorkloadsFound', 'Warning'),
  NoServerCertificateVerificationDestinationLevel: t('IST0128', 'NoServerCertificateVerificationDestinationLevel', 'Warning'),
  NoServerCertificateVerificationPortLevel: t('IST0129', 'NoServerCertificateVerificationPortLevel', 'Warning'),
  VirtualServiceUnreachableRule: t('IST0130', 'VirtualServiceUnreachableRule', 'Warning'),
  VirtualServiceIneffectiveMatch: t('IST0131', 'VirtualServiceIneffectiveMatch', 'Info'),
  VirtualServiceHostNotFoundInGateway: t('IST0132', 'VirtualServiceHostNotFoundInGateway', 'Warning'),
  SchemaWarning: t('IST0133', 'SchemaWarning', 'Warning'),
  ConflictingGateways: t('IST0145', 'ConflictingGateways', 'Error'),
  JwtClaimBasedRoutingWithoutRequestAuthN: t('IST0149', 'JwtClaimBasedRoutingWithoutRequestAuthN', 'Error'),
  /** istioctl (1.31) reports this too; its code is not one tsmesh can name, so the check has a tsmesh code. */
  ConflictingServiceEntryProtocol: t('TSM0101', 'ConflictingServiceEntryProtocol', 'Warning'),
  /** An EnvoyFilter patch tsmesh cannot apply or its proxy cannot run (refused, never silently ignored). */
  EnvoyFilterUnsupported: t('TSM0102', 'EnvoyFilterUnsupported', 'Error'),
  /** A Gateway API status condition that is not satisfied (reason as Gateway API names it). */
  GatewayApiCondition: t('TSM0103', 'GatewayApiCondition', 'Error'),
  /** The status the control plane wrote for a Gateway API resource (a status file beside the config), shown as read. */
  GatewayApiStatusWritten: t('TSM0104', 'GatewayApiStatusWritten', 'Info'),
  /** A resource of a kind tsmesh does not read: listed, never silently skipped. */
  NotAnalysed: t('TSM0001', 'NotAnalysed', 'Info'),
  /** A check that needs resources the input does not have (Pods, Namespaces) was not made. */
  CheckSkipped: t('TSM0002', 'CheckSkipped', 'Info'),
} as const satisfies Record<string, MessageType>;

/** Documentation page of an istioctl message code. */
export function documentationUrl(code: string): string {
  return code.startsWith('IST') ? `https://istio.io/latest/docs/reference/config/analysis/${code.toLowerCase()}/` : '';
}

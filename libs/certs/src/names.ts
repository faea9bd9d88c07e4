/** Subject alternative names of certificates and CSRs, read through @peculiar/x509. */
import { x509 } from './provider';

/** The SANs of a certificate or CSR, by kind. */
export interface AltNames {
  uris: string[];
  dnsNames: string[];
  ipAddresses: string[];
}

/** Collects URI, DNS and IP SANs from a SubjectAlternativeName extension (empty when there is none). */
export function altNamesOf(ext: x509.SubjectAlternativeNameExtension | null): AltNames {
  const out: AltNames = { uris: [], dnsNames: [], ipAddresses: [] };
  if (!ext) return out;
  for (const n of ext.names.items) {
    if (n.type === 'url') out.uris.push(n.value);
    else if (n.type === 'dns') out.dnsNames.push(n.value);
    else if (n.type === 'ip') out.ipAddresses.push(n.value);
  }
  return out;
}

/** Builds a SubjectAlternativeName extension; critical when the subject is empty (RFC 5280 §4.2.1.6). */
export function altNamesExtension(names: Partial<AltNames>, critical: boolean): x509.SubjectAlternativeNameExtension | null {
  const json: x509.JsonGeneralNames = [
    ...(names.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(names.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(names.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  return json.length === 0 ? null : new x509.SubjectAlternativeNameExtension(json, critical);
}

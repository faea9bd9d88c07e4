/** Named errors of the proxy's config layer. */

/** A pushed resource (or one of its fields) the proxy cannot apply faithfully. */
export class ConfigError extends Error {
  readonly code = 'PROXY_CONFIG_UNSUPPORTED';
  /** Field path inside the resource (`virtual_hosts[0].routes[2].match.safe_regex`). */
  readonly field: string;
  readonly reason: string;
  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.name = 'ConfigError';
    this.field = field;
    this.reason = reason;
  }
}

/** Throws a {@link ConfigError}. */
export function reject(field: string, reason: string): never {
  throw new ConfigError(field, reason);
}

/** WebCrypto type names (the workspace compiles without the DOM lib, so they come from node:crypto). */
import type { webcrypto } from 'node:crypto';

/** A WebCrypto key. */
export type CryptoKey = webcrypto.CryptoKey;
/** A WebCrypto algorithm identifier. */
export type Algorithm = webcrypto.Algorithm;
/** The WebCrypto interface. */
export type Crypto = webcrypto.Crypto;

/**
 * Loads @peculiar/x509 with the Reflect polyfill it requires and Node's WebCrypto as its provider.
 * Every module of this lib imports x509 from here, never from the package directly.
 */
import 'reflect-metadata';
import nodeCrypto from 'node:crypto';
import type { Crypto } from './webcrypto-types';
import * as x509 from '@peculiar/x509';

/** Node's WebCrypto, the provider @peculiar/x509 signs and verifies with. */
export const crypto: Crypto = nodeCrypto.webcrypto;

x509.cryptoProvider.set(crypto);

export { x509 };

/** PEM helpers: split bundles into blocks, convert between PEM and DER, join chains. */
import { InvalidPemError } from './errors';

/** One PEM block: its label (`CERTIFICATE`, `PRIVATE KEY`, ...) and DER bytes. */
export interface PemBlock {
  label: string;
  der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Parses every PEM block in `text`; throws InvalidPemError when there is none or one is malformed. */
export function parsePemBlocks(text: string, what = 'PEM input'): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const body = m[2].replace(/\s+/g, '');
    if (body.length === 0 || body.length % 4 !== 0 || !BASE64.test(body)) {
      throw new InvalidPemError(what, `block "${m[1]}" #${blocks.length + 1} is not valid base64`);
    }
    blocks.push({ label: m[1], der: Buffer.from(body, 'base64') });
  }
  if (blocks.length === 0) throw new InvalidPemError(what, 'no PEM block found');
  return blocks;
}

/** Encodes DER bytes as one PEM block with 64-column lines and a trailing newline. */
export function derToPem(der: Uint8Array | ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** DER bytes of the single block labelled `label` in `text` (the first one when there are several). */
export function pemToDer(text: string, label: string, what = label): Buffer {
  const block = parsePemBlocks(text, what).find((b) => b.label === label);
  if (!block) throw new InvalidPemError(what, `no "${label}" block found`);
  return block.der;
}

/** Splits a PEM bundle into one normalized PEM string per CERTIFICATE block, in order. */
export function splitPemCertificates(text: string, what = 'certificate bundle'): string[] {
  const certs = parsePemBlocks(text, what).filter((b) => b.label === 'CERTIFICATE');
  if (certs.length === 0) throw new InvalidPemError(what, 'no CERTIFICATE block found');
  return certs.map((b) => derToPem(b.der, 'CERTIFICATE'));
}

/** Joins PEM strings into one bundle, one block after another, each ending in a newline. */
export function joinPem(pems: readonly string[]): string {
  return pems.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join('');
}

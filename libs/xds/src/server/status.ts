/** Per-node xDS status: which version of each type a node ACKed, when, and its last NACK. */
import type { Node__Output } from '../types';

/** One type's status on one node. */
export interface TypeStatus {
  /** Last version sent, with its nonce and time. */
  sentVersion?: string;
  sentNonce?: string;
  sentAt?: Date;
  /** Last version the node ACKed, and when. */
  ackedVersion?: string;
  ackedAt?: Date;
  /** Last NACK: the version rejected, the node's error detail, when. */
  lastNack?: { version: string; nonce: string; code: number; message: string; at: Date };
}

/** Status of one connected (or once connected) node. */
export interface NodeStatus {
  nodeId: string;
  cluster: string;
  metadata: Record<string, unknown>;
  /** Open streams (SotW and Delta) from this node. */
  streams: number;
  connectedAt?: Date;
  disconnectedAt?: Date;
  /** By type URL. */
  types: Map<string, TypeStatus>;
}

/** Registry of node status, updated by the ADS server. */
export class StatusRegistry {
  private readonly nodes = new Map<string, NodeStatus>();

  /** Records a new stream for a node. */
  streamOpened(node: Node__Output): NodeStatus {
    const id = node.id;
    let s = this.nodes.get(id);
    if (!s) {
      s = { nodeId: id, cluster: node.cluster ?? '', metadata: structToPlain(node.metadata), streams: 0, types: new Map() };
      this.nodes.set(id, s);
    }
    s.streams += 1;
    s.connectedAt = new Date();
    return s;
  }

  /** Records a closed stream. */
  streamClosed(nodeId: string): void {
    const s = this.nodes.get(nodeId);
    if (!s) return;
    s.streams = Math.max(0, s.streams - 1);
    if (s.streams === 0) s.disconnectedAt = new Date();
  }

  private type(nodeId: string, typeUrl: string): TypeStatus | undefined {
    const s = this.nodes.get(nodeId);
    if (!s) return undefined;
    let t = s.types.get(typeUrl);
    if (!t) {
      t = {};
      s.types.set(typeUrl, t);
    }
    return t;
  }

  sent(nodeId: string, typeUrl: string, version: string, nonce: string): void {
    const t = this.type(nodeId, typeUrl);
    if (!t) return;
    t.sentVersion = version;
    t.sentNonce = nonce;
    t.sentAt = new Date();
  }

  acked(nodeId: string, typeUrl: string, version: string): void {
    const t = this.type(nodeId, typeUrl);
    if (!t) return;
    t.ackedVersion = version;
    t.ackedAt = new Date();
  }

  /** A NACK of `version`; `running` is the version the client's request carried (the one it keeps), when it sent one. */
  nacked(nodeId: string, typeUrl: string, version: string, nonce: string, code: number, message: string, running?: string): void {
    const t = this.type(nodeId, typeUrl);
    if (!t) return;
    t.lastNack = { version, nonce, code, message, at: new Date() };
    if (running && t.ackedVersion !== running) {
      t.ackedVersion = running;
      t.ackedAt = new Date();
    }
  }

  /**
   * A client opened a stream holding `version` of a type from an earlier stream (a control plane
   * restart, a reconnect): it runs that version, and until the server sends something newer that
   * is also what it was last given.
   */
  resumed(nodeId: string, typeUrl: string, version: string): void {
    const t = this.type(nodeId, typeUrl);
    if (!t) return;
    const now = new Date();
    if (t.sentVersion === undefined) {
      t.sentVersion = version;
      t.sentAt = now;
    }
    t.ackedVersion = version;
    t.ackedAt = now;
  }

  /** Status of one node. */
  get(nodeId: string): NodeStatus | undefined {
    return this.nodes.get(nodeId);
  }

  /** Status of all nodes. */
  all(): NodeStatus[] {
    return [...this.nodes.values()];
  }

  /** JSON-friendly view (for proxy-status). */
  toJSON(): object[] {
    return this.all().map((n) => ({
      nodeId: n.nodeId,
      cluster: n.cluster,
      streams: n.streams,
      connectedAt: n.connectedAt?.toISOString(),
      types: Object.fromEntries([...n.types].map(([k, v]) => [k, {
        ...v,
        sentAt: v.sentAt?.toISOString(),
        ackedAt: v.ackedAt?.toISOString(),
        lastNack: v.lastNack ? { ...v.lastNack, at: v.lastNack.at.toISOString() } : undefined,
      }])),
    }));
  }
}

/** Converts a decoded `google.protobuf.Struct` into a plain object. */
export function structToPlain(s: unknown): Record<string, unknown> {
  const fields = (s as { fields?: Record<string, unknown> } | null)?.fields;
  if (!fields) return {};
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, valueToPlain(v)]));
}

function valueToPlain(v: unknown): unknown {
  const x = v as Record<string, unknown>;
  if (!x || typeof x !== 'object') return x;
  // protobufjs' well-known Value uses camelCase field names.
  switch (x.kind) {
    case 'stringValue': return x.stringValue;
    case 'numberValue': return x.numberValue;
    case 'boolValue': return x.boolValue;
    case 'nullValue': return null;
    case 'structValue': return structToPlain(x.structValue);
    case 'listValue': return ((x.listValue as { values?: unknown[] })?.values ?? []).map(valueToPlain);
    default: return undefined;
  }
}

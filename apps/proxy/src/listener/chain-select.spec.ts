import { describe, expect, it } from 'vitest';
import { listener, tcpProxy, pack, unpack, TypeUrl, type Listener__Output } from '@tsmesh/xds';
import { compileListener } from '../config/listener';
import { selectChain, type ConnectionFacts } from './chain-select';

const chain = (name: string, m: object) => ({ name, filter_chain_match: m, filters: [tcpProxy(name, name)] });
const l = compileListener(unpack<Listener__Output>(pack(TypeUrl.Listener, listener({
  name: 'l', address: '0.0.0.0', port: 15006,
  filterChains: [
    chain('port-tls-istio', { destination_port: { value: 8080 }, transport_protocol: 'tls', application_protocols: ['istio', 'istio-http/1.1'] }),
    chain('port-plain', { destination_port: { value: 8080 } }),
    chain('sni-exact', { server_names: ['api.example.com'] }),
    chain('sni-wild', { server_names: ['*.example.com'] }),
    chain('cidr', { prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: { value: 8 } }] }),
  ],
  defaultFilterChain: { filters: [tcpProxy('default', 'default')] },
}))), 'v1');

const facts = (f: Partial<ConnectionFacts>): ConnectionFacts => ({ destinationIp: '192.168.1.1', destinationPort: 9999, sourceIp: '1.2.3.4', transportProtocol: 'raw_buffer', applicationProtocols: [], serverName: '', ...f });

describe('filter chain selection', () => {
  it('picks the most specific chain criterion by criterion', () => {
    expect(selectChain(l, facts({ destinationPort: 8080, transportProtocol: 'tls', applicationProtocols: ['istio-http/1.1', 'h2'] }))?.name).toBe('port-tls-istio');
    // no backtracking (as in Envoy): tls narrows to the tls chain, whose ALPN does not match → default chain
    expect(selectChain(l, facts({ destinationPort: 8080, transportProtocol: 'tls', applicationProtocols: ['h2'] }))?.tcp?.cluster).toBe('default');
    expect(selectChain(l, facts({ destinationPort: 8080 }))?.name).toBe('port-plain');
    expect(selectChain(l, facts({ transportProtocol: 'tls', serverName: 'api.example.com' }))?.name).toBe('sni-exact');
    expect(selectChain(l, facts({ transportProtocol: 'tls', serverName: 'www.example.com' }))?.name).toBe('sni-wild');
    expect(selectChain(l, facts({ destinationIp: '10.1.2.3' }))?.name).toBe('cidr');
    expect(selectChain(l, facts({}))?.name).toBe('');
    expect(selectChain(l, facts({}))?.tcp?.cluster).toBe('default');
  });
});

/**
 * The floor of a proxy written in Node.js: a minimal keep-alive HTTP/1.1 forwarder on raw sockets
 * (one upstream pool, no routing, no header rewriting, no telemetry, no timeouts), for `cost.ts
 * --case forwarder`. It assumes every downstream read is one whole GET and finds the response's
 * end by its Content-Length, which is all the cost client sends and the nginx upstream answers.
 * Not a proxy to use: it only shows what Node's sockets themselves cost per request.
 *   FORWARDER_LISTEN=<port> FORWARDER_UPSTREAM=<port> node bench/proxy/forwarder.mjs
 */
import net from 'node:net';

const listenPort = Number(process.env.FORWARDER_LISTEN);
const upstreamPort = Number(process.env.FORWARDER_UPSTREAM);
const readBuffer = Buffer.allocUnsafe(64 * 1024);
const idle = [];

function withUpstream(cb) {
  const u = idle.pop();
  if (u) {
    cb(u);
    return;
  }
  const s = net.connect({ port: upstreamPort, host: '127.0.0.1', noDelay: true, onread: { buffer: readBuffer, callback: (n, b) => s.onResponseBytes(b, n) } });
  s.once('connect', () => cb(s));
}

net.createServer({ noDelay: true }, (down) => {
  down.on('data', (request) => {
    withUpstream((up) => {
      let need = -1;
      let got = 0;
      up.onResponseBytes = (b, n) => {
        if (need < 0) {
          const end = b.indexOf('\r\n\r\n');
          const m = /content-length: *(\d+)/i.exec(b.latin1Slice(0, end));
          need = end + 4 + Number(m ? m[1] : 0);
        }
        got += n;
        down.write(Buffer.from(b.subarray(0, n)));
        if (got >= need) idle.push(up);
      };
      up.write(request);
    });
  });
  down.on('error', () => {});
}).listen(listenPort, '127.0.0.1');

// exit on SIGINT (under --cpu-prof, the profile is written on exit)
process.on('SIGINT', () => process.exit(0));

// A gRPC upstream for the benchmark, in its own process: @grpc/grpc-js serving one unary method,
// /bench.Echo/Unary, answering every request with a 1 KiB message (raw bytes, no schema needed).
//   node bench/proxy/grpc-upstream.mjs <port>     prints "ready <port>" once listening
import * as grpc from '@grpc/grpc-js';

const port = Number(process.argv[2] ?? 0);
const reply = Buffer.alloc(1024, 0x78);
const raw = { serialize: (b) => b, deserialize: (b) => b };
const server = new grpc.Server();
server.addService({
  Unary: { path: '/bench.Echo/Unary', requestStream: false, responseStream: false, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
}, { Unary: (_call, cb) => cb(null, reply) });
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
  if (err) {
    console.error(err.message);
    process.exit(1);
  }
  console.log(`ready ${bound}`);
});

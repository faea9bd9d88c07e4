import { pino } from 'pino';
import { createApp } from './app';

const log = pino({ name: 'callme', level: process.env.LOG_LEVEL ?? 'info' });
const port = Number(process.env.PORT ?? 8091);
const version = process.env.VERSION ?? 'v1';

if (!Number.isInteger(port) || port < 0 || port > 65535) {
  log.fatal({ PORT: process.env.PORT }, 'PORT must be an integer between 0 and 65535');
  process.exit(2);
}

const server = createApp({ version }, log).listen(port, () => {
  const address = server.address();
  log.info({ port: typeof address === 'object' && address ? address.port : port, version }, 'callme listening');
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log.info({ signal }, 'shutting down');
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  });
}

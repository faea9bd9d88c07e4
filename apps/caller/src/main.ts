import { pino } from 'pino';
import { createApp, DEFAULT_CALLME_URL } from './app';

const log = pino({ name: 'caller', level: process.env.LOG_LEVEL ?? 'info' });
const port = Number(process.env.PORT ?? 8090);
const version = process.env.VERSION ?? 'v1';
const callmeUrl = process.env.CALLME_URL || DEFAULT_CALLME_URL;
const timeoutMs = Number(process.env.CALLME_TIMEOUT_MS ?? 10_000);

if (!Number.isInteger(port) || port < 0 || port > 65535) {
  log.fatal({ PORT: process.env.PORT }, 'PORT must be an integer between 0 and 65535');
  process.exit(2);
}
try {
  new URL(callmeUrl);
} catch {
  log.fatal({ CALLME_URL: callmeUrl }, 'CALLME_URL is not a valid URL');
  process.exit(2);
}

const server = createApp({ version, callmeUrl, timeoutMs }, log).listen(port, () => {
  const address = server.address();
  log.info({ port: typeof address === 'object' && address ? address.port : port, version, callmeUrl }, 'caller listening');
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log.info({ signal }, 'shutting down');
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  });
}

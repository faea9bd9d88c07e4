/** Entry point of the CA process: parse flags, start, stop cleanly on SIGTERM/SIGINT. */
import { pino } from 'pino';
import { CertsError } from '@tsmesh/certs';
import { buildCli } from './config';
import { startCa } from './app';

const program = buildCli(async (config) => {
  const log = pino({ level: config.logLevel, base: { app: 'ca' } }, pino.destination(2));
  const ca = await startCa(config, log);
  process.stdout.write(`${JSON.stringify({ ready: true, grpcPort: ca.grpcPort, monitoringPort: ca.monitoringPort, rootSource: ca.rootSource })}\n`);
  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down');
    ca.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
});

program.parseAsync(process.argv).catch((err: unknown) => {
  const code = err instanceof CertsError ? err.code : 'CA_START';
  process.stderr.write(`ca: ${code}: ${(err as Error).message}\n`);
  process.exit(2);
});

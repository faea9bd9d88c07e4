/**
 * `npm run demo` (tools/run.sh demo builds the apps first): the whole mesh on the local runtime,
 * the same as `tsmesh demo`. Flags: --check, --kind, --xds, --http-port, --https-port, --timeout,
 * --requests, --keep-cluster, --verbose (`npm run demo -- --help`).
 */
import { Command } from 'commander';
import { addDemoOptions, runDemo, type DemoOptions } from '../apps/cli/src/commands/demo';

const program = addDemoOptions(new Command('npm run demo --').description('the whole tsmesh mesh on the local runtime: progress, URLs, commands to try; Ctrl-C tears it down'));
program.action(async (o: DemoOptions) => {
  process.exitCode = await runDemo(o);
});
program.parseAsync(process.argv).then(
  () => process.exit(process.exitCode ?? 0),
  (err: Error) => {
    console.error(`demo: ${err.message}`);
    process.exit(1);
  },
);

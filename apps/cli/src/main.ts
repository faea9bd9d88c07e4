#!/usr/bin/env node
/** Entry point of the `tsmesh` command. */
import { run } from './cli';

run(process.argv.slice(2)).then((code) => process.exit(code));

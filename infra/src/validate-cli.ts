// `tsx infra/src/validate-cli.ts <kustomization dir> [more dirs]`: renders and validates offline.
import { resolve } from 'node:path';
import { renderKustomization } from './kustomize';
import { validateRendered } from './validate';

const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  console.error('usage: validate-cli <kustomization dir> [more dirs]');
  process.exit(2);
}
let failed = false;
for (const dir of dirs) {
  const objects = renderKustomization(resolve(dir));
  const errors = await validateRendered(objects);
  for (const e of errors) console.error(e);
  console.log(`${dir}: ${objects.length} objects, ${errors.length} errors`);
  failed ||= errors.length > 0;
}
process.exit(failed ? 1 : 0);

// `tsmesh/module-boundaries`: Nx's `@nx/enforce-module-boundaries`, with the one mistake a
// newcomer makes most (an app importing another app, by relative path or alias) reported in
// words that say what to do instead. Every other report is Nx's own.
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import nx from '@nx/eslint-plugin';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const nxRule = nx.rules['enforce-module-boundaries'];
const paths = JSON.parse(readFileSync(resolve(root, 'tsconfig.base.json'), 'utf8')).compilerOptions.paths ?? {};

/** The message for an app → app import. */
export const APP_IMPORT_MESSAGE = 'apps may not import apps; move it into a lib';

/** `apps/<name>` of a workspace-relative path, or null. */
function appOf(path) {
  const parts = path.split(sep).join('/').split('/');
  return parts[0] === 'apps' && parts[1] ? parts[1] : null;
}

/** The workspace-relative path an import specifier points at (relative paths and `@tsmesh/*` aliases), or null. */
function targetOf(spec, fromFile) {
  if (typeof spec !== 'string') return null;
  if (spec.startsWith('.')) return relative(root, resolve(dirname(fromFile), spec));
  if (spec.startsWith('/')) return relative(root, spec);
  const alias = paths[spec] ?? Object.entries(paths).find(([k]) => k.endsWith('/*') && spec.startsWith(k.slice(0, -1)))?.[1];
  return alias ? alias[0] : null;
}

function specifierOf(node) {
  if (node.source && typeof node.source.value === 'string') return node.source.value;
  if (node.arguments?.[0] && typeof node.arguments[0].value === 'string') return node.arguments[0].value;
  return null;
}

/** @type {import('eslint').Rule.RuleModule} */
export const moduleBoundaries = {
  meta: { ...nxRule.meta, messages: { ...nxRule.meta.messages, appImportsApp: `${APP_IMPORT_MESSAGE} ({{from}} imports {{to}})` } },
  defaultOptions: nxRule.defaultOptions,
  create(context) {
    const file = context.filename;
    const fromApp = appOf(relative(root, file));
    const reported = new WeakSet();
    const wrapped = Object.create(context, {
      report: {
        value(descriptor) {
          const node = descriptor.node;
          const target = fromApp && node ? targetOf(specifierOf(node), file) : null;
          const toApp = target ? appOf(target) : null;
          if (toApp && toApp !== fromApp) {
            if (reported.has(node)) return;
            reported.add(node);
            context.report({ node, messageId: 'appImportsApp', data: { from: `apps/${fromApp}`, to: `apps/${toApp}` } });
            return;
          }
          context.report(descriptor);
        },
      },
    });
    return nxRule.create(wrapped);
  },
};

export default { rules: { 'module-boundaries': moduleBoundaries } };

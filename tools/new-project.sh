#!/usr/bin/env bash
# Scaffolds an Nx project: tools/new-project.sh apps|libs <name> [entry.ts ...]
# Writes project.json (lint, typecheck, test, build), tsconfig.json and vitest.config.ts.
set -euo pipefail
kind="$1"; name="$2"; shift 2
entries=("$@")
[ ${#entries[@]} -eq 0 ] && { [ "$kind" = libs ] && entries=(src/index.ts) || entries=(src/main.ts); }
dir="$kind/$name"
mkdir -p "$dir/src"
if [ "$kind" = libs ]; then ptype=library; tag=type:lib; else ptype=application; tag=type:app; fi
cat > "$dir/project.json" <<JSON
{
  "name": "$name",
  "\$schema": "../../node_modules/nx/schemas/project-schema.json",
  "projectType": "$ptype",
  "sourceRoot": "$dir/src",
  "tags": ["$tag", "scope:$( [ "$kind" = libs ] && echo shared || echo "$name")"],
  "targets": {
    "lint": { "command": "eslint $dir" },
    "typecheck": { "command": "tsc -p $dir/tsconfig.json --noEmit" },
    "test": { "command": "vitest run --config $dir/vitest.config.ts" },
    "build": { "command": "node tools/build.mjs $dir ${entries[*]}", "outputs": ["{workspaceRoot}/dist/$dir"] }
  }
}
JSON
cat > "$dir/tsconfig.json" <<'JSON'
{
  "extends": "../../tsconfig.base.json",
  "include": ["src/**/*.ts", "test/**/*.ts", "vitest.config.ts"]
}
JSON
cat > "$dir/vitest.config.ts" <<'TS'
import { defineConfig } from 'vitest/config';
import { projectConfig } from '../../vitest.shared';

export default defineConfig(projectConfig(import.meta.dirname));
TS
echo "created $dir"

/** Reading the Prometheus text format (0.0.4): what a proxy's 15020 `/stats/prometheus` serves. */

/** One sample line: `name{labels} value`. */
export interface ExpositionSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A line of the text format that is not a sample, a comment or blank. */
export class ExpositionParseError extends Error {
  readonly code = 'TELEMETRY_EXPOSITION_PARSE';
}

function unescapeLabel(v: string): string {
  return v.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function parseValue(v: string): number {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  if (v === 'NaN') return NaN;
  const n = Number(v);
  if (v === '' || Number.isNaN(n)) throw new ExpositionParseError(`value "${v}" is not a number`);
  return n;
}

/**
 * Parses the Prometheus text exposition format into samples (comments and `# TYPE`/`# HELP` lines
 * skipped, label values unescaped, timestamps ignored). A malformed line throws
 * {@link ExpositionParseError} naming the line number.
 */
export function parseExposition(text: string): ExpositionSample[] {
  const out: ExpositionSample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith('#')) continue;
    try {
      const brace = line.indexOf('{');
      const space = line.indexOf(' ');
      let name: string;
      const labels: Record<string, string> = {};
      let rest: string;
      if (brace >= 0 && (space < 0 || brace < space)) {
        name = line.slice(0, brace);
        let p = brace + 1;
        for (;;) {
          while (line[p] === ' ' || line[p] === ',') p++;
          if (line[p] === '}') break;
          const eq = line.indexOf('=', p);
          if (eq < 0 || line[eq + 1] !== '"') throw new ExpositionParseError(`label at column ${p + 1} has no quoted value`);
          const key = line.slice(p, eq).trim();
          let q = eq + 2;
          let raw = '';
          while (q < line.length && line[q] !== '"') {
            if (line[q] === '\\') raw += line[q++];
            raw += line[q++];
          }
          if (q >= line.length) throw new ExpositionParseError(`label "${key}" has an unterminated value`);
          labels[key] = unescapeLabel(raw);
          p = q + 1;
        }
        rest = line.slice(p + 1).trim();
      } else {
        if (space < 0) throw new ExpositionParseError('no value');
        name = line.slice(0, space);
        rest = line.slice(space + 1).trim();
      }
      if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new ExpositionParseError(`"${name}" is not a metric name`);
      out.push({ name, labels, value: parseValue(rest.split(/\s+/)[0]) });
    } catch (err) {
      throw new ExpositionParseError(`line ${i + 1}: ${(err as Error).message}: ${line.slice(0, 120)}`);
    }
  }
  return out;
}

/** The parts of autocannon's API the benchmark uses. */
declare module 'autocannon' {
  interface Result {
    requests: { average: number; total: number };
    latency: { p50: number; p90: number; p99: number };
    errors: number;
    non2xx: number;
  }
  function autocannon(opts: { url: string; connections?: number; pipelining?: number; duration?: number; overallRate?: number; headers?: Record<string, string> }): Promise<Result>;
  export default autocannon;
}

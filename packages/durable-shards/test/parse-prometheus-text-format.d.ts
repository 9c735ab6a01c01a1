// The Prometheus text parser the metrics tests read their output back with ships no types.
declare module "parse-prometheus-text-format" {
  export default function parsePrometheusTextFormat(text: string): unknown;
}

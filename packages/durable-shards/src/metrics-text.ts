/**
 * Metrics for an app to serve where it likes: every keyspace's, measured from its shards by the
 * directory, as Prometheus text or as JSON.
 */
import { DEFAULT_DIRECTORY_NAME } from "./directory.js";
import { directoryClient, type DirectoryNamespace } from "./directory-client.js";
import type { KeyspaceMetrics } from "./keyspace-metrics.js";

/** Which metrics: one keyspace's (default all), of the directory object `directoryName`. */
export interface MetricsOptions {
  keyspace?: string;
  directoryName?: string;
}

/**
 * Prometheus text (serve it with `PROMETHEUS_CONTENT_TYPE`). Each call measures every shard of
 * the keyspaces asked for (one RPC each, in parallel): scrape it every 15 s or more, not per request.
 * A shard that does not answer is listed with `durable_shards_shard_up` 0.
 */
export function metricsText(directory: DirectoryNamespace, options: MetricsOptions = {}): Promise<string> {
  return directoryClient(directory, options.directoryName ?? DEFAULT_DIRECTORY_NAME).metricsText(options.keyspace);
}

/** The same metrics as JSON (`KeyspaceMetrics` per keyspace), for dashboards and tools. */
export function metricsJson(directory: DirectoryNamespace, options: MetricsOptions = {}): Promise<KeyspaceMetrics[]> {
  return directoryClient(directory, options.directoryName ?? DEFAULT_DIRECTORY_NAME).metrics(options.keyspace);
}

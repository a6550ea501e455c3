import { invalid } from "./bigquery-api-error.js";
import type { BigQueryCatalog, DatasetEntry } from "./bigquery-catalog.js";
import { etag } from "./bigquery-http.js";

/** Where a dataset created without a location is, as in BigQuery. */
export const DEFAULT_LOCATION = "US";

/** The REST resource `datasets`: get, list, insert, patch/update, delete. */
export class DatasetsResource {
  /** `url` is the emulator's, known once it listens. */
  constructor(
    private readonly catalog: BigQueryCatalog,
    private readonly url: () => string,
  ) {}

  get(id: string): Record<string, unknown> {
    return this.resource(this.catalog.dataset(id));
  }

  list(): Record<string, unknown> {
    return {
      kind: "bigquery#datasetList",
      etag: etag(String(this.catalog.datasets.size)),
      datasets: [...this.catalog.datasets.values()].map((d) => ({
        kind: "bigquery#dataset",
        id: `${this.catalog.projectId}:${d.datasetId}`,
        datasetReference: { datasetId: d.datasetId, projectId: this.catalog.projectId },
        location: d.location,
        type: "DEFAULT",
      })),
    };
  }

  async insert(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const reference = (body.datasetReference ?? {}) as { datasetId?: string; projectId?: string };
    if (!reference.datasetId) throw invalid("Missing required field: datasetReference.datasetId.");
    if (reference.projectId !== undefined) this.catalog.checkProject(reference.projectId);
    const entry = await this.catalog.exclusive((c) =>
      this.catalog.createDataset(c, {
        datasetId: reference.datasetId!,
        location: typeof body.location === "string" ? body.location : DEFAULT_LOCATION,
        ...(typeof body.description === "string" ? { description: body.description } : {}),
        ...(typeof body.friendlyName === "string" ? { friendlyName: body.friendlyName } : {}),
        ...(body.labels !== undefined ? { labels: body.labels as Record<string, string> } : {}),
        ...(body.defaultTableExpirationMs !== undefined
          ? { defaultTableExpirationMs: String(body.defaultTableExpirationMs) }
          : {}),
      }),
    );
    return this.resource(entry);
  }

  async update(id: string, body: Record<string, unknown>, method: string): Promise<Record<string, unknown>> {
    const d = this.catalog.dataset(id);
    if (typeof body.location === "string" && body.location !== d.location) {
      throw invalid(`Cannot change dataset location from ${d.location} to ${body.location}`);
    }
    for (const key of ["description", "friendlyName", "labels", "defaultTableExpirationMs"] as const) {
      if (key in body) (d as unknown as Record<string, unknown>)[key] = body[key] ?? undefined;
      else if (method === "PUT") delete (d as unknown as Record<string, unknown>)[key];
    }
    d.lastModifiedTime = String(Date.now());
    await this.catalog.exclusive((c) => this.catalog.persist(c));
    return this.resource(d);
  }

  async delete(id: string, deleteContents: boolean): Promise<void> {
    await this.catalog.exclusive((c) => this.catalog.deleteDataset(c, id, deleteContents));
  }

  private resource(d: DatasetEntry): Record<string, unknown> {
    return {
      kind: "bigquery#dataset",
      etag: etag(d.lastModifiedTime),
      id: `${this.catalog.projectId}:${d.datasetId}`,
      selfLink: `${this.url()}/bigquery/v2/projects/${this.catalog.projectId}/datasets/${d.datasetId}`,
      datasetReference: { datasetId: d.datasetId, projectId: this.catalog.projectId },
      location: d.location,
      creationTime: d.creationTime,
      lastModifiedTime: d.lastModifiedTime,
      type: "DEFAULT",
      ...(d.description !== undefined ? { description: d.description } : {}),
      ...(d.friendlyName !== undefined ? { friendlyName: d.friendlyName } : {}),
      ...(d.labels !== undefined ? { labels: d.labels } : {}),
      ...(d.defaultTableExpirationMs !== undefined
        ? { defaultTableExpirationMs: d.defaultTableExpirationMs }
        : {}),
    };
  }
}

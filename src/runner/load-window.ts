/**
 * The batches of one stream loading at once: at most `size`. `add` waits for a free place and
 * starts the load; the first failure is kept, stops further adds, and is thrown by `add` or
 * `drain`, so a stream never reports its end (or commits a bookmark) past a batch that failed.
 */
export class LoadWindow {
  private readonly loading = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly size: number,
    /** Called once, on the first failure: the stream should stop reading. */
    private readonly onFailure: () => void,
  ) {}

  /** The first load that failed, if one did. */
  get failed(): { error: unknown } | undefined {
    return this.failure;
  }

  async add(load: () => Promise<void>): Promise<void> {
    while (this.loading.size >= Math.max(1, this.size) && !this.failure) await Promise.race(this.loading);
    if (this.failure) throw this.failure.error;
    const running: Promise<void> = load()
      .catch((error: unknown) => {
        if (this.failure) return;
        this.failure = { error };
        this.onFailure();
      })
      .finally(() => this.loading.delete(running));
    this.loading.add(running);
  }

  /** Waits for every load started; throws the first failure. */
  async drain(): Promise<void> {
    await Promise.all(this.loading);
    if (this.failure) throw this.failure.error;
  }

  /** Waits for every load started, failed or not (before the writer is aborted). */
  async settle(): Promise<void> {
    await Promise.all(this.loading);
  }
}

import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';

/**
 * An append-only journal of state changes, with group commit: records written in one call are
 * flushed together, and each caller learns when its record is on disk (in the OS, which is what
 * surviving a killed process needs). A snapshot replaces the journal when it grows long.
 */
export class Journal<TRecord> {
  readonly #file: string;
  readonly #snapshotFile: string;
  #handle: FileHandle | undefined;
  #buffer: Array<{ record: TRecord; resolve: () => void; reject: (e: unknown) => void }> = [];
  #writing: Promise<void> | undefined;
  /** A compaction under way: appends wait in the buffer until the new journal is open. */
  #compaction: Promise<void> | undefined;
  #records = 0;

  constructor(readonly directory: string) {
    this.#file = path.join(directory, 'journal.jsonl');
    this.#snapshotFile = path.join(directory, 'snapshot.json');
  }

  /** Records written since the last snapshot. */
  get length(): number {
    return this.#records;
  }

  /** Reads the snapshot (if any) and every journal record after it. */
  async load(): Promise<{ snapshot: unknown; records: TRecord[] }> {
    await mkdir(this.directory, { recursive: true });
    let snapshot: unknown;
    if (existsSync(this.#snapshotFile)) {
      snapshot = JSON.parse(await (await import('node:fs/promises')).readFile(this.#snapshotFile, 'utf8'));
    }
    const records: TRecord[] = [];
    if (existsSync(this.#file)) {
      const lines = createInterface({ input: createReadStream(this.#file, 'utf8'), crlfDelay: Infinity });
      for await (const line of lines) {
        if (!line.trim()) continue;
        try {
          records.push(JSON.parse(line) as TRecord);
        } catch {
          // A line cut short by a crash mid-write: everything before it stands.
          break;
        }
      }
    }
    this.#records = records.length;
    this.#handle = await open(this.#file, 'a');
    return { snapshot, records };
  }

  /** Appends a record; resolves once it is written. */
  append(record: TRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#buffer.push({ record, resolve, reject });
      this.#writing ??= this.#drain();
    });
  }

  async #drain(): Promise<void> {
    try {
      // The file is being replaced: writing now would go to a closed handle, or to the old file
      // about to be deleted.
      // Once: a compaction that starts after this waits for this drain instead.
      if (this.#compaction) await this.#compaction.catch(() => undefined);
      while (this.#buffer.length > 0) {
        const batch = this.#buffer;
        this.#buffer = [];
        try {
          await this.#handle!.appendFile(batch.map((b) => JSON.stringify(b.record)).join('\n') + '\n');
          this.#records += batch.length;
          batch.forEach((b) => b.resolve());
        } catch (error) {
          batch.forEach((b) => b.reject(error));
        }
      }
    } finally {
      this.#writing = undefined;
    }
  }

  /**
   * Replaces snapshot and journal with one snapshot of the whole state, taken once every record
   * appended so far is written (so none is lost with the old journal). Records appended meanwhile
   * wait and go to the new journal: they describe state the snapshot may already hold, and
   * replaying a record is idempotent.
   */
  async compact(snapshot: () => unknown): Promise<void> {
    if (this.#compaction) return this.#compaction;
    const run = async () => {
      while (this.#writing) await this.#writing;
      const temporary = `${this.#snapshotFile}.tmp`;
      await writeFile(temporary, JSON.stringify(snapshot()));
      await this.#handle?.close();
      await rename(temporary, this.#snapshotFile);
      await rm(this.#file, { force: true });
      this.#handle = await open(this.#file, 'a');
      this.#records = 0;
    };
    this.#compaction = run();
    try {
      await this.#compaction;
    } finally {
      this.#compaction = undefined;
    }
  }

  async close(): Promise<void> {
    await this.#writing;
    await this.#handle?.close();
    this.#handle = undefined;
  }
}

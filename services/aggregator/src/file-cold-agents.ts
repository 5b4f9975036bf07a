import { closeSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ColdAgents } from './core/cold-agents';

interface Slot {
  pos: number;
  len: number;
  end: number;
}

/**
 * Idle agents on local disk: one append-only file per partition and, in memory, only a small index (the key, where
 * its JSON is, the end of its newest day: about 150 bytes an agent against some 3 KB for the agent itself). Taken
 * or replaced entries leave dead bytes behind; the file is rewritten once they outweigh the live ones. The file is
 * scratch: it starts empty with each assignment (the changelog restore fills it) and is removed on close, so a
 * crash leaves nothing that a restart would trust. Reads and writes are synchronous: an agent coming back costs one
 * pread of a few hundred bytes, cheaper than a round trip through the event loop.
 */
export class FileColdAgents implements ColdAgents {
  private readonly index = new Map<string, Slot>();
  private fd: number;
  private tail = 0;
  private dead = 0;
  private closed = false;

  constructor(
    private readonly path: string,
    /** Dead bytes tolerated before a rewrite is considered. */
    private readonly compactAfterBytes = 64 * 1024 * 1024,
  ) {
    this.fd = openSync(path, 'w+');
  }

  static forPartition(dir: string, partition: number): FileColdAgents {
    return new FileColdAgents(join(dir, `partition-${partition}.agents`));
  }

  put(key: string, json: string, newestEnd: number): void {
    const buf = Buffer.from(json);
    const old = this.index.get(key);
    if (old) this.dead += old.len;
    writeSync(this.fd, buf, 0, buf.length, this.tail);
    this.index.set(key, { pos: this.tail, len: buf.length, end: newestEnd });
    this.tail += buf.length;
    this.maybeCompact();
  }

  take(key: string): string | undefined {
    const slot = this.index.get(key);
    if (!slot) return undefined;
    const json = this.read(slot).toString();
    this.index.delete(key);
    this.dead += slot.len;
    return json;
  }

  delete(key: string): boolean {
    const slot = this.index.get(key);
    if (!slot) return false;
    this.index.delete(key);
    this.dead += slot.len;
    return true;
  }

  endedBefore(t: number): string[] {
    const keys: string[] = [];
    for (const [k, s] of this.index) if (s.end < t) keys.push(k);
    return keys;
  }

  get size(): number {
    return this.index.size;
  }

  /** Bytes in the file, live and dead. */
  get fileBytes(): number {
    return this.tail;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    rmSync(this.path, { force: true });
    this.index.clear();
  }

  private read(slot: Slot): Buffer {
    const buf = Buffer.allocUnsafe(slot.len);
    let done = 0;
    while (done < slot.len) {
      const n = readSync(this.fd, buf, done, slot.len - done, slot.pos + done);
      if (n === 0)
        throw new Error(`${this.path}: ${slot.len} bytes expected at ${slot.pos}, file ends first`);
      done += n;
    }
    return buf;
  }

  /** Copies the live entries into a fresh file, in file order, and swaps it in. */
  private maybeCompact(): void {
    if (this.dead < this.compactAfterBytes || this.dead < this.tail - this.dead) return;
    const next = `${this.path}.compacting`;
    const fd = openSync(next, 'w+');
    const live = [...this.index.values()].sort((a, b) => a.pos - b.pos);
    const moved: number[] = [];
    let tail = 0;
    try {
      for (const slot of live) {
        const buf = this.read(slot);
        writeSync(fd, buf, 0, buf.length, tail);
        moved.push(tail);
        tail += buf.length;
      }
    } catch (err) {
      closeSync(fd);
      rmSync(next, { force: true });
      throw err;
    }
    renameSync(next, this.path);
    live.forEach((slot, i) => (slot.pos = moved[i]));
    closeSync(this.fd);
    this.fd = fd;
    this.tail = tail;
    this.dead = 0;
  }
}

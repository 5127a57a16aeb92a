/** A set that forgets its oldest entries beyond a capacity (insertion order, refreshed on re-add). */
export class BoundedSet<T> {
  private readonly entries = new Set<T>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  add(value: T): void {
    this.entries.delete(value);
    this.entries.add(value);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.values().next().value as T;
      this.entries.delete(oldest);
    }
  }

  has(value: T): boolean {
    return this.entries.has(value);
  }

  delete(value: T): void {
    this.entries.delete(value);
  }

  get size(): number {
    return this.entries.size;
  }
}

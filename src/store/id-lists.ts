import type { KeyValueStore } from './key-value';

/** The outcome of changing an index: whether it changed, and how many members it has now. */
export interface IndexChange {
  changed: boolean;
  size: number;
}

/** Appends `member` to the array index at `key` unless present, under the key's lock. */
export async function addToIndex(kv: KeyValueStore, key: string, member: string): Promise<IndexChange> {
  let changed = false;
  const next = await kv.update<string[]>(key, (current = []) => {
    if (current.includes(member)) return current;
    changed = true;
    return [...current, member];
  });
  return { changed, size: next?.length ?? 0 };
}

/** Removes `member` from the array index at `key`, deleting the key when it empties. */
export async function removeFromIndex(kv: KeyValueStore, key: string, member: string): Promise<IndexChange> {
  let changed = false;
  const next = await kv.update<string[]>(key, (current) => {
    if (!current?.includes(member)) return current;
    changed = true;
    const rest = current.filter((m) => m !== member);
    return rest.length > 0 ? rest : undefined;
  });
  return { changed, size: next?.length ?? 0 };
}

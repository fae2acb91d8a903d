/**
 * The host's own building blocks, as the views ask for them: Lens's list layout, drawer items,
 * titles and badges, its namespace filter and menu items. The adapter fills this with
 * `Renderer.Component.*`, so the views stay free of host imports and a port to another host
 * replaces only the adapter.
 */
import type * as React from "react";
import type { KindKey } from "../model/types.js";

/** A column of a list: its cell, and what it sorts by (unsortable without). */
export interface ListColumn<R> {
  /** Stable id: the host keeps a person's sort order and hidden columns under it. */
  id: string;
  title: string;
  sort?: (row: R) => string | number;
  cell(row: R): React.ReactNode;
}

/** Rows are keyed as objects are: `namespace/name`. */
export interface KeyedRow {
  namespace: string;
  name: string;
}

/** A list of one kind's objects on the host's list layout (search, sort, count, row menus). */
export interface ListSpec<R extends KeyedRow> {
  /** Stable id of the table (the host saves column choices under it). */
  id: string;
  /** The kind listed; its objects open in the host's drawer and get its row menu. */
  kind: KindKey;
  /** What the search box searches for ("Search <noun>..."). */
  noun: string;
  /** The rows, by `namespace/name`; objects without a row are not shown. */
  rows(): Map<string, R>;
  /** Only these rows (all when absent). */
  show?(row: R): boolean;
  /** The texts the search box matches. */
  search(row: R): string[];
  columns: ListColumn<R>[];
  testId: string;
  /** Shown instead of Lens's bare "Failed to load items" when the kind cannot be listed. */
  failed?: React.ReactNode;
}

export type Tone = "ok" | "info" | "warning" | "error";

export interface Kit {
  List<R extends KeyedRow>(props: ListSpec<R>): React.ReactElement | null;
  /** A labelled row of a drawer panel (Lens's DrawerItem). */
  Item: React.ComponentType<{ name: React.ReactNode; testId?: string; children?: React.ReactNode }>;
  /** A section title of a drawer panel (Lens's DrawerTitle). */
  Title: React.ComponentType<{ children?: React.ReactNode }>;
  /** A short state, coloured by tone (Lens's Badge). */
  Badge: React.ComponentType<{ label: React.ReactNode; tone?: Tone; tooltip?: string; testId?: string }>;
  /** The host's namespace filter, for pages that are not lists of one kind. */
  NamespaceFilter: React.ComponentType<Record<string, never>>;
}

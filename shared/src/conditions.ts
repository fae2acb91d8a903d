/**
 * Conditions: the constants (types, reasons grouped per condition), the schema both contracts
 * read, and the one setter. Split into `conditions/` so the constants can be imported without
 * TypeBox; this module re-exports all three for the package index.
 */
export * from "./conditions/constants.js";
export * from "./conditions/schema.js";
export * from "./conditions/set.js";

/** The input errors live in `lib/errors.ts`, below every layer that raises them. */
export * from "../errors.ts";

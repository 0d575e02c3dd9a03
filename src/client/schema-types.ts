// The TypeScript type of a value that a JSON schema (written `as const`) accepts, for the subset our route
// schemas use: type (one or a list), enum, properties with required, items. The server validates with the
// same objects, so a request the types allow is one the server's schema accepts (bounds aside).

type Primitive<T> = T extends 'string'
  ? string
  : T extends 'integer' | 'number'
    ? number
    : T extends 'boolean'
      ? boolean
      : T extends 'null'
        ? null
        : T extends 'object'
          ? Record<string, unknown>
          : T extends 'array'
            ? unknown[]
            : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type FromType<S> = S extends { type: readonly (infer U)[] } ? Primitive<U> : S extends { type: infer U } ? Primitive<U> : unknown;

type FromObject<S> = S extends { properties: infer P }
  ? Simplify<
      { [K in keyof P & RequiredOf<S>]: FromSchema<P[K]> } & { [K in Exclude<keyof P, RequiredOf<S>>]?: FromSchema<P[K]> }
    >
  : Record<string, unknown>;

type RequiredOf<S> = S extends { required: readonly (infer R)[] } ? R : never;

/** The value type of JSON schema `S`. */
export type FromSchema<S> = S extends { enum: readonly (infer E)[] }
  ? E
  : S extends { type: 'object' }
    ? FromObject<S>
    : S extends { type: 'array'; items: infer I }
      ? FromSchema<I>[]
      : FromType<S>;

// Request and response types of the v6 face, derived from the server's own route schemas and render
// functions (type-only imports: nothing of the server is loaded at run time).
import type { createSchema, listResponse, revokeSchema } from '../server/api/keys-routes.js';
import type { v6Schemas } from '../server/api/v6/schemas.js';
import type { SystemLoad } from '../server/api/v6/system-load.js';
import type { FromSchema } from './schema-types.js';

export type { V6Failure, V6JobList, V6JobResponse, V6Processing, V6Success } from '../server/api/v6/render.js';
export type { JobProgress } from '../server/jobs/job-spec.js';
export type { SystemLoad };

type Schemas = ReturnType<typeof v6Schemas>;

/** The job endpoints by name, as the server routes them (`POST /api/v6/{group}/{name}`). */
export type V6Endpoint = Exclude<keyof Schemas, 'fetch'>;

/** The body of a v6 endpoint, without `key` (the client sends it as `Authorization: Bearer`). */
export type V6Request<E extends V6Endpoint> = Omit<FromSchema<Schemas[E]>, 'key'>;

export type Text2ImgRequest = V6Request<'text2img'>;
export type Img2ImgRequest = V6Request<'img2img'>;
export type InpaintRequest = V6Request<'inpaint'>;
export type OutpaintRequest = V6Request<'outpaint'>;
export type ControlnetRequest = V6Request<'controlnet'>;
export type SuperResolutionRequest = V6Request<'super_resolution'>;
export type Text2VideoRequest = V6Request<'text2video'>;
export type Img2VideoRequest = V6Request<'img2video'>;

export type CreateKeyRequest = Omit<FromSchema<(typeof createSchema)['body']>, 'key'>;
export type CreatedKey = FromSchema<(typeof createSchema)['response'][200]>;
export type KeyList = FromSchema<(typeof listResponse)[200]>;
export type ApiKeyInfo = KeyList['keys'][number];
export type RevokeKeyRequest = Omit<FromSchema<(typeof revokeSchema)['body']>, 'key'>;
export type RevokedKey = FromSchema<(typeof revokeSchema)['response'][200]>;

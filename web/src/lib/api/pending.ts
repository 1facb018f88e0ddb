/**
 * TEMPORARY: the built-in provider's account endpoints that are being added to the platform
 * (verify email, resend, password reset) and are not yet in its OpenAPI document. Written in
 * openapi-typescript's shape from the agreed contract; delete this file once
 * `npm run gen:api` brings them into schema.d.ts (the browser client then uses `paths` alone).
 */
type Json<T> = { content: { "application/json": T } };
type Problem = { content: { "application/problem+json": { code: string; status: number; detail?: string } } };
type Post<Body, Ok extends number> = {
  parameters: { query?: never; header?: never; path?: never; cookie?: never };
  requestBody?: Body extends never ? never : Json<Body>;
  responses: { [K in Ok]: { headers: { [name: string]: unknown }; content?: never } } & {
    400: { headers: { [name: string]: unknown } } & Problem;
    422: { headers: { [name: string]: unknown } } & Problem;
  };
};
type Route<Op> = { parameters: { query?: never; header?: never; path?: never; cookie?: never }; get?: never; put?: never; post: Op; delete?: never; options?: never; head?: never; patch?: never; trace?: never };

export interface PendingPaths {
  "/v1/auth/verify-email": Route<Post<{ token: string }, 200>>;
  "/v1/auth/verify-email/resend": Route<Post<never, 202>>;
  "/v1/auth/password-reset": Route<Post<{ email: string }, 202>>;
  "/v1/auth/password-reset/confirm": Route<Post<{ token: string; password: string }, 204>>;
}

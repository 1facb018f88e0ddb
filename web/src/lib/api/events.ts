import "server-only";
import { cache } from "react";
import { api, ApiProblem, must } from "./server";

/** One event, read once per request (metadata and page share it); null when it does not exist. */
export const getEvent = cache(async (id: string) => {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return null;
  const client = await api();
  try {
    return must(await client.GET("/v1/events/{id}", { params: { path: { id } } }));
  } catch (e) {
    if (e instanceof ApiProblem && e.problem.status === 404) return null;
    throw e;
  }
});

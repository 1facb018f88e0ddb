/** The request's current time for server components (each render is one request, so reading it is intended). */
export function requestTime(): number {
  return Date.now();
}

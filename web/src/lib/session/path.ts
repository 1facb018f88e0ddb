/** Request header the proxy sets to the page's path and query (for "sign in again and come back"). */
export const PATH_HEADER = "x-tg-path";

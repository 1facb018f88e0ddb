/**
 * The language switcher: German strings appear at once, stay after a reload
 * and on the next visit, and a signed-in buyer's profile keeps the choice (so
 * mails follow it too).
 */
import { expect, test } from "./support/fixtures";
import { signIn } from "./support/flows";

test("switching to German changes the site and persists", async ({ page, api, platform, look }) => {
  const buyer = await api.register("sprache");
  await page.goto("/");
  await signIn(page, buyer);
  await expect(page.getByRole("heading", { name: "Find your next event" })).toBeVisible();

  await page.getByRole("combobox", { name: "Language" }).selectOption("de");
  await expect(page.getByRole("heading", { name: "Finde dein nächstes Event" })).toBeVisible();
  await expect(page.locator("html")).toHaveAttribute("lang", "de");
  await expect(page.getByRole("combobox", { name: "Sprache" })).toHaveValue("de");
  await look(page, "home-de");

  await page.reload();
  await expect(page.getByRole("heading", { name: "Finde dein nächstes Event" })).toBeVisible();
  await expect(page.locator("html")).toHaveAttribute("lang", "de");

  const later = await page.context().newPage();
  await later.goto("/");
  await expect(later.getByRole("heading", { name: "Finde dein nächstes Event" })).toBeVisible();
  await later.close();

  // The profile keeps it (PATCH /v1/me {language}).
  const token = await api.login(buyer.email, buyer.password);
  await expect
    .poll(async () => {
      const me = await api.http.get(`${platform.apiUrl}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
      return (await me.json()).language;
    })
    .toBe("de");

  // And back.
  await page.getByRole("combobox", { name: "Sprache" }).selectOption("en");
  await expect(page.getByRole("heading", { name: "Find your next event" })).toBeVisible();
  await expect(page.locator("html")).toHaveAttribute("lang", "en");
});

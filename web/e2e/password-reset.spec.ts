/**
 * Password reset end to end: ask for a link, open it from the mail, choose a
 * new password, sign in with it; the old password no longer works.
 */
import { expect, test } from "./support/fixtures";
import { fillProviderSignIn, signIn, signedIn } from "./support/flows";

test("a buyer resets a forgotten password from the mailed link", async ({ page, api, platform, look }) => {
  const buyer = await api.register("reset");
  const newPassword = `${buyer.password} renewed`;

  await page.goto("/forgot-password");
  await expect(page.getByRole("heading", { name: "Forgot your password?" })).toBeVisible();
  await look(page, "forgot-password");
  await page.getByLabel("Email").fill(buyer.email);
  await page.getByRole("button", { name: "Send reset link" }).click();
  await expect(page.getByText(/If an account exists for this email/)).toBeVisible();
  await look(page, "reset-link-sent");

  const link = await api.linkInMail(buyer.email, "/reset-password?token=");
  await page.goto(link);
  await expect(page.getByRole("heading", { name: "Choose a new password" })).toBeVisible();
  await look(page, "reset-password");
  await page.getByLabel("New password").fill(newPassword);
  await page.getByLabel("Repeat the password").fill(newPassword);
  await page.getByRole("button", { name: "Save new password" }).click();
  await expect(page.getByText("Your password was changed. You can sign in now.")).toBeVisible();
  await look(page, "password-changed");

  // The old password is refused, at the provider's sign-in page and by the API.
  await page.goto("/");
  await page.getByRole("link", { name: "Sign in", exact: true }).first().click();
  await fillProviderSignIn(page, buyer);
  await expect(signedIn(page)).toHaveCount(0);
  await expect(page).toHaveURL((u) => u.pathname.endsWith("/v1/auth/authorize"));
  await look(page, "provider-sign-in-refused");
  const old = await api.http.post(`${platform.apiUrl}/v1/auth/login`, {
    data: { email: buyer.email, password: buyer.password },
  });
  expect(old.status()).toBe(401);

  // The new one works.
  await page.goto("/");
  await signIn(page, { email: buyer.email, password: newPassword });
  await page.goto("/me/profile");
  await expect(page.getByText(buyer.email).first()).toBeVisible();
});

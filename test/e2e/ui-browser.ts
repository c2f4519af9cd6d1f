/**
 * Headless Chromium for the UI's browser tests: Debian's `chromium` package (`.ci/run` installs it), driven by
 * playwright-core (which never downloads a browser), with a fresh profile per launch and the flags that keep it off
 * the network. Screenshots go to dist/ui-screenshots, or to UI_SCREENSHOTS_DIR (docs/screenshots to refresh the
 * ones the docs show).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS_DIR = resolve(process.env.UI_SCREENSHOTS_DIR ?? 'dist/ui-screenshots');

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
];

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`the UI tests need Chromium at ${CHROMIUM_PATH}: apt-get install chromium (see .ci/run)`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'llmgw-ui-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
    colorScheme: 'light',
    timezoneId: 'UTC',
    locale: 'en-GB',
  });
  context.setDefaultTimeout(15_000);
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A full-page PNG named after the screen (and the variant: phone, dark). */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  const path = join(SCREENSHOTS_DIR, `${name}.png`);
  // Charts draw on the next frame after their data arrives.
  await page.waitForTimeout(300);
  await page.screenshot({ path, fullPage: true });
  return path;
}

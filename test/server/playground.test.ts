import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiffusekitClient } from '../../lib/client/index.js';
import type { DiffusekitServer } from '../../lib/server/index.js';
import { startServer } from './helpers.js';

// The playground in a real browser: Debian's chromium (apt-get install chromium; .ci/run installs it), driven by
// playwright-core, which downloads no browser. Without chromium the test is skipped, except where
// DIFFUSEKIT_REQUIRE_BROWSER=1 (CI) makes that a failure.
const CHROMIUM = '/usr/bin/chromium';
const hasBrowser = fs.existsSync(CHROMIUM);
if (!hasBrowser && process.env.DIFFUSEKIT_REQUIRE_BROWSER === '1') throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
const ADMIN_KEY = 'admin-key-for-the-playground-test-0123456789';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe.skipIf(!hasBrowser)(`playground in chromium${hasBrowser ? '' : ` (skipped: no ${CHROMIUM})`}`, () => {
  let server: DiffusekitServer;
  let key: string;
  let profile: string;
  let context: import('playwright-core').BrowserContext;
  beforeAll(async () => {
    server = await startServer({ auth: true, adminKey: ADMIN_KEY, syncWaitSeconds: 0 });
    key = (await new DiffusekitClient({ baseUrl: server.url, key: ADMIN_KEY }).keys.create({ name: 'browser' })).key;
    const { chromium } = await import('playwright-core');
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusekit-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1100, height: 900 } });
  }, 120_000);
  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
  });

  it('enters a key, generates an image with its seed, cancels a second job, opens the gallery', async () => {
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    await page.goto(server.url);
    expect(await page.title()).toBe('diffusekit playground');
    // Every control has a label (or an accessible name).
    const unlabelled = await page.$$eval('input, select, textarea', (elements) =>
      elements.filter((e) => (e as HTMLInputElement).labels?.length === 0 && !e.getAttribute('aria-label') && !e.closest('label')).map((e) => e.id || e.outerHTML),
    );
    expect(unlabelled).toEqual([]);

    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Save key' }).click();
    await expect.poll(() => page.locator('#key-status').textContent(), { timeout: 30_000 }).toBe('Key saved');
    expect(await page.evaluate(() => localStorage.getItem('diffusekit.key'))).toBe(key);
    await expect.poll(() => page.locator('#model option').count()).toBeGreaterThan(0);

    await page.getByLabel('Prompt', { exact: true }).fill('a lighthouse at dusk');
    await page.getByLabel('Negative prompt').fill('fog');
    await page.getByLabel('Width').fill('64');
    await page.getByLabel('Height').fill('64');
    await page.getByLabel('Steps').fill('1');
    await page.getByLabel('Seed').fill('4242');
    await page.getByLabel('Sampler').selectOption('euler');
    await page.getByLabel('Prompt', { exact: true }).focus();
    await page.keyboard.press('Tab'); // the keyboard reaches the form's controls
    await page.getByRole('button', { name: 'Generate' }).click();
    const image = page.getByRole('img', { name: 'Generated image, seed 4242' });
    await image.waitFor({ timeout: 120_000 });
    expect(await image.evaluate((img: HTMLImageElement) => [img.naturalWidth, img.naturalHeight])).toEqual([64, 64]);
    const shown = await page.locator('#result dl').innerText();
    expect(shown).toMatch(/Seed\s+4242/);
    expect(shown).toMatch(/Sampler\s+euler/);
    expect(shown).toMatch(/Prompt\s+a lighthouse at dusk/);
    await expect.poll(() => page.locator('#status').textContent()).toMatch(/^Done in/);
    // The screenshot in docs/clients.md (DIFFUSEKIT_SCREENSHOT=docs/playground.png to refresh it).
    const screenshot = await page.screenshot({ fullPage: true });
    expect((await sharp(screenshot).metadata()).format).toBe('png');
    if (process.env.DIFFUSEKIT_SCREENSHOT) await sharp(screenshot).resize({ width: 900 }).png({ palette: true, quality: 80 }).toFile(process.env.DIFFUSEKIT_SCREENSHOT);

    // A long second job, cancelled from the page: the server ends it as cancelled.
    await page.getByLabel('Width').fill('256');
    await page.getByLabel('Height').fill('256');
    await page.getByLabel('Steps').fill('40');
    await page.getByRole('button', { name: 'Generate' }).click();
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 30_000 }).toMatch(/^Job \d+ (queued|running)|^Running/);
    // Live progress: the step count and the latent preview from the event stream.
    await page.locator('#preview').waitFor({ state: 'visible', timeout: 60_000 });
    expect(await page.locator('#preview').evaluate((img: HTMLImageElement) => img.src)).toMatch(/^data:image\/png;base64,/);
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 30_000 }).toMatch(/^Running: step \d+ of 40/);
    const [second, first] = (await new DiffusekitClient({ baseUrl: server.url, key }).jobs()).map((job) => job.id);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 30_000 }).toBe('Cancelled');
    await expect.poll(async () => (await server.service.get(second!))?.status, { timeout: 30_000 }).toBe('cancelled');

    await page.getByRole('button', { name: 'Show recent jobs' }).click();
    await page.getByRole('img', { name: `Job ${first}, seed 4242` }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#gallery li', { hasText: `Job ${second}: cancelled` }).count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Hide recent jobs' }).getAttribute('aria-expanded')).toBe('true');
    expect(problems).toEqual([]);
  }, 300_000);

  it('inpaints with the mask brush and upscales the result', async () => {
    const page = await context.newPage();
    await page.goto(server.url); // the key is still in localStorage
    await expect.poll(() => page.locator('#model option').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#3060c0' } }).png().toBuffer();
    await page.getByLabel('Inpaint').check();
    await page.getByLabel('Init image').setInputFiles({ name: 'in.png', mimeType: 'image/png', buffer: png });
    await page.locator('#mask-canvas').waitFor({ state: 'visible' });
    const box = (await page.locator('#mask-canvas').boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.5, { steps: 5 });
    await page.mouse.up();
    const painted = await page.evaluate(() => {
      const c = document.getElementById('mask-canvas') as HTMLCanvasElement;
      const { data } = c.getContext('2d')!.getImageData(0, 0, c.width, c.height);
      let white = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i + 3]! > 0) white++;
      return white;
    });
    expect(painted).toBeGreaterThan(0);
    await page.getByLabel('Prompt', { exact: true }).fill('a red door');
    await page.getByLabel('Steps').fill('1');
    await page.getByLabel('Seed').fill('7');
    await page.getByRole('button', { name: 'Generate' }).click();
    await page.getByRole('img', { name: 'Generated image, seed 7' }).waitFor({ timeout: 120_000 });
    await page.getByRole('button', { name: 'Upscale' }).click();
    await expect.poll(() => page.locator('#result img').evaluate((img: HTMLImageElement) => img.naturalWidth), { timeout: 120_000 }).toBe(128);
  }, 300_000);
});

describe('--no-ui', () => {
  it('serves no page at / (the API stays)', async () => {
    const server = await startServer({ ui: false });
    try {
      const page = await fetch(server.url);
      expect(page.status).toBe(404);
      expect(await page.json()).toMatchObject({ status: 'error', code: 'not_found' });
      expect((await fetch(`${server.url}/ui/playground.js`)).status).toBe(404);
      expect((await fetch(`${server.url}/api/v6/system_load`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

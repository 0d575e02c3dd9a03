// The playground: a form over diffusekit/client (served from /ui/client/). Plain DOM, no framework.
import { DiffusekitApiError, DiffusekitClient } from '/ui/client/index.js';

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = 'diffusekit.key';
const GALLERY_SIZE = 12;

let client = makeClient();
let running; // the AbortController of the job in flight
let initImage; // data URL of the chosen init image

function makeClient() {
  return new DiffusekitClient({ baseUrl: location.origin, key: localStorage.getItem(KEY_STORAGE) || undefined });
}

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

const describeError = (err) => (err instanceof DiffusekitApiError ? `Error (${err.code}): ${err.message}` : `Error: ${err?.message ?? err}`);

// --- the key, the models and the samplers -------------------------------------------------------------

async function loadServerInfo() {
  const config = await (await fetch('/ui/config.json')).json();
  const sampler = $('sampler');
  sampler.replaceChildren(...config.samplers.map((name) => new Option(name, name, name === config.defaults.scheduler, name === config.defaults.scheduler)));
  for (const [id, value] of [['width', config.defaults.width], ['height', config.defaults.height], ['steps', config.defaults.steps], ['cfg', config.defaults.guidance_scale]]) $(id).value = value;
  for (const id of ['width', 'height']) $(id).max = config.limits.maxSide;
  $('steps').max = config.limits.maxSteps;
  await loadModels();
}

async function loadModels() {
  try {
    const load = await client.systemLoad();
    const models = load.models.filter((m) => m.role === 'checkpoint');
    $('model').replaceChildren(...models.map((m) => new Option(`${m.id} (${m.family})`, m.id)));
    $('key-status').textContent = localStorage.getItem(KEY_STORAGE) ? 'Key saved' : '';
  } catch (err) {
    $('key-status').textContent = err instanceof DiffusekitApiError && err.status === 401 ? 'Enter an API key' : describeError(err);
  }
}

$('api-key').value = localStorage.getItem(KEY_STORAGE) ?? '';
$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const key = $('api-key').value.trim();
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
  client = makeClient();
  void loadModels();
});

// --- task, init image and mask brush -----------------------------------------------------------------

const task = () => document.querySelector('input[name=task]:checked').value;

function showTask() {
  const t = task();
  $('image-inputs').hidden = t === 'text2img';
  $('mask-tools').hidden = t !== 'inpaint';
  $('canvas-box').hidden = !initImage || t === 'text2img';
  $('mask-canvas').hidden = t !== 'inpaint';
  const upscale = t === 'super_resolution';
  $('prompt').required = !upscale;
  $('prompting').hidden = upscale;
  $('generation-settings').hidden = upscale;
  $('upscale-settings').hidden = !upscale;
  for (const element of document.querySelectorAll('.strength')) element.hidden = upscale;
  $('strength').value = t === 'inpaint' ? 1 : 0.7;
}
for (const radio of document.querySelectorAll('input[name=task]')) radio.addEventListener('change', showTask);

async function useInitImage(dataUrl) {
  const image = new Image();
  image.src = dataUrl;
  await image.decode();
  initImage = dataUrl;
  for (const canvas of [$('image-canvas'), $('mask-canvas')]) {
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
  }
  $('image-canvas').getContext('2d').drawImage(image, 0, 0);
  $('mask-canvas').getContext('2d').clearRect(0, 0, image.naturalWidth, image.naturalHeight);
  $('width').value = image.naturalWidth - (image.naturalWidth % 8);
  $('height').value = image.naturalHeight - (image.naturalHeight % 8);
  showTask();
}

const readAsDataUrl = (blob) =>
  new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });

$('init-image').addEventListener('change', async () => {
  const file = $('init-image').files[0];
  if (file) await useInitImage(await readAsDataUrl(file)).catch((err) => setStatus(`Not a readable image: ${err.message}`, true));
});

{
  const mask = $('mask-canvas');
  const context = mask.getContext('2d');
  let painting = false;
  const paint = (event) => {
    const box = mask.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * mask.width;
    const y = ((event.clientY - box.top) / box.height) * mask.height;
    const radius = (Number($('brush').value) / 2) * (mask.width / box.width);
    context.fillStyle = '#fff';
    context.beginPath();
    context.arc(x, y, radius, 0, Math.PI * 2);
    context.fill();
  };
  mask.addEventListener('pointerdown', (event) => {
    painting = true;
    mask.setPointerCapture(event.pointerId);
    paint(event);
  });
  mask.addEventListener('pointermove', (event) => painting && paint(event));
  mask.addEventListener('pointerup', () => (painting = false));
  $('mask-all').addEventListener('click', () => {
    context.fillStyle = '#fff';
    context.fillRect(0, 0, mask.width, mask.height);
  });
  $('mask-clear').addEventListener('click', () => context.clearRect(0, 0, mask.width, mask.height));
}

/** The mask as the API wants it: white = repaint, black = keep. */
function maskDataUrl() {
  const out = document.createElement('canvas');
  out.width = $('mask-canvas').width;
  out.height = $('mask-canvas').height;
  const context = out.getContext('2d');
  context.fillStyle = '#000';
  context.fillRect(0, 0, out.width, out.height);
  context.drawImage($('mask-canvas'), 0, 0);
  return out.toDataURL('image/png');
}

// --- generation --------------------------------------------------------------------------------------

function requestBody(t) {
  const number = (id) => ($(id).value === '' ? undefined : Number($(id).value));
  if (t === 'super_resolution') return { init_image: initImage, scale: number('scale') };
  const body = {
    prompt: $('prompt').value,
    negative_prompt: $('negative-prompt').value || undefined,
    model_id: $('model').value || undefined,
    width: number('width'),
    height: number('height'),
    num_inference_steps: number('steps'),
    guidance_scale: number('cfg'),
    seed: number('seed') ?? null,
    scheduler: $('sampler').value || undefined,
  };
  if (t === 'img2img' || t === 'inpaint') Object.assign(body, { init_image: initImage, strength: number('strength') });
  if (t === 'inpaint') body.mask_image = maskDataUrl();
  return body;
}

function showProgress(progress) {
  $('progress').hidden = false;
  $('progress').value = (progress.image + progress.step / progress.steps) / progress.images;
  setStatus(`Running: step ${progress.step} of ${progress.steps}${progress.images > 1 ? `, image ${progress.image + 1} of ${progress.images}` : ''}`);
}

function onEvent(event) {
  if (event.type === 'state') {
    if (event.job.status === 'processing') setStatus(`Job ${event.job.id} ${event.job.tip?.includes('queued') ? 'queued' : 'running'} (about ${event.job.eta} s)`);
  } else if (event.type === 'progress') showProgress(event.progress);
  else if (event.type === 'preview') {
    $('preview').src = event.image;
    $('preview').hidden = false;
  }
}

async function run(endpoint, body) {
  running = new AbortController();
  $('generate').disabled = true;
  $('cancel').disabled = false;
  $('preview').hidden = true;
  setStatus('Submitting…');
  try {
    const { job, images } = await client.generate(endpoint, body, { signal: running.signal, onEvent });
    showResult(job, images);
    setStatus(`Done in ${job.generationTime.toFixed(1)} s`);
  } catch (err) {
    if (err?.name === 'AbortError') setStatus('Cancelled');
    else setStatus(describeError(err), true);
  } finally {
    running = undefined;
    $('generate').disabled = false;
    $('cancel').disabled = true;
    $('progress').hidden = true;
    $('preview').hidden = true;
  }
}

$('generate-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const t = task();
  if (t !== 'text2img' && !initImage) return setStatus('Choose an init image first', true);
  void run(t, requestBody(t));
});
$('cancel').addEventListener('click', () => running?.abort());

// --- results and gallery -----------------------------------------------------------------------------

const objectUrl = (image) => URL.createObjectURL(new Blob([image.bytes], { type: image.contentType }));

function parameters(job, image) {
  const m = job.meta;
  const rows = [
    ['Job', job.id],
    ['Seed', image.seed],
    ['Size', m.width && `${m.width}×${m.height}`],
    ['Steps', m.num_inference_steps],
    ['CFG', m.guidance_scale],
    ['Sampler', m.scheduler],
    ['Model', m.model_id],
    ['Prompt', m.prompt],
    ['Negative prompt', m.negative_prompt],
  ].filter(([, v]) => v !== undefined && v !== null && v !== '');
  const list = document.createElement('dl');
  for (const [name, value] of rows) list.append(Object.assign(document.createElement('dt'), { textContent: name }), Object.assign(document.createElement('dd'), { textContent: String(value) }));
  return list;
}

function showResult(job, images) {
  $('result').replaceChildren(
    ...images.map((image) => {
      const figure = document.createElement('figure');
      const img = Object.assign(document.createElement('img'), { src: objectUrl(image), alt: `Generated image, seed ${image.seed ?? 'unknown'}` });
      const caption = document.createElement('figcaption');
      const again = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Use as init image' });
      again.addEventListener('click', async () => useInitImage(await readAsDataUrl(new Blob([image.bytes], { type: image.contentType }))));
      const upscale = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Upscale' });
      upscale.addEventListener('click', async () => run('super_resolution', { init_image: await readAsDataUrl(new Blob([image.bytes], { type: image.contentType })), scale: Number($('scale').value) || 2 }));
      caption.append(parameters(job, image), again, ' ', upscale);
      figure.append(img, caption);
      return figure;
    }),
  );
}

async function showGallery() {
  const list = $('gallery');
  let jobs;
  try {
    jobs = await client.jobs({ limit: GALLERY_SIZE });
  } catch (err) {
    return list.replaceChildren(Object.assign(document.createElement('li'), { textContent: describeError(err) }));
  }
  if (!jobs.length) return list.replaceChildren(Object.assign(document.createElement('li'), { textContent: 'No jobs yet' }));
  const items = await Promise.all(
    jobs.map(async (job) => {
      const id = job.id;
      const item = document.createElement('li');
      try {
        if (job.status !== 'success') {
          item.textContent = `Job ${id}: ${job.status === 'processing' ? 'processing' : job.cancelled ? 'cancelled' : job.message}`;
          return item;
        }
        const seed = job.meta.seeds?.[0];
        const file = await client.download(job.output[0]);
        const image = { bytes: file.bytes, contentType: file.contentType, seed, url: job.output[0] };
        const open = Object.assign(document.createElement('button'), { type: 'button' });
        open.append(Object.assign(document.createElement('img'), { src: objectUrl(image), alt: `Job ${id}, seed ${seed}` }), Object.assign(document.createElement('span'), { textContent: `Job ${id} · seed ${seed}` }));
        open.addEventListener('click', () => showResult(job, [image]));
        item.append(open);
      } catch (err) {
        item.textContent = `Job ${id}: ${describeError(err)}`;
      }
      return item;
    }),
  );
  list.replaceChildren(...items);
}

$('gallery-toggle').addEventListener('click', async () => {
  const opening = $('gallery').hidden;
  $('gallery').hidden = !opening;
  $('gallery-toggle').setAttribute('aria-expanded', String(opening));
  $('gallery-toggle').textContent = opening ? 'Hide recent jobs' : 'Show recent jobs';
  if (opening) await showGallery();
});

showTask();
void loadServerInfo();

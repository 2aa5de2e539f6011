/**
 * The export's static page: a photo (dropped, chosen, or `?photo=URL`) or the camera's frames
 * live, classified in the browser by onnxruntime-web (WebAssembly with SIMD; threads where the
 * page is cross-origin isolated), with the fp32 or the int8 model. It reads everything it shows
 * from the folder: the title and names from `config.json` (set as text, never as markup: names
 * are the dataset's folder names), the size from `preprocessor_config.json`.
 *
 * Scripts (and tests) reach it through `window.dogBreeds`: `ready` (a promise of the loaded
 * page), `last` (the last photo's probabilities) and `frames` (the camera's last frames, each with
 * the RGBA pixels the model saw and its probabilities before smoothing).
 */

/** Camera frames averaged for the top 3 shown (one frame's guess flickers). */
const SMOOTHED_FRAMES = 5;
/** Camera frames kept in `dogBreeds.frames`. */
const KEPT_FRAMES = 8;

export const exportPage = (): string =>
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dog breeds</title>
<link rel="icon" href="data:,">
<style>
  body { font: 16px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  #drop { border: 2px dashed #888; border-radius: 8px; padding: 1.5rem; text-align: center; }
  #drop.over { background: #eef; }
  img, video { max-width: 100%; max-height: 18rem; display: block; margin: 1rem auto; }
  .bar { background: #4a7; height: 1rem; border-radius: 3px; }
  table { width: 100%; border-collapse: collapse; } td { padding: .2rem .4rem; }
  #fps { color: #666; font-size: .9rem; }
</style>
</head>
<body>
<h1 id="title">Which breed?</h1>
<p><label>Model: <select id="model"></select></label> <span id="fps"></span></p>
<div id="drop">Drop a photo here, or <input type="file" id="file" accept="image/*">
  or <button id="camera" type="button">Use the camera</button></div>
<p id="status">Loading the model...</p>
<video id="video" playsinline muted hidden></video>
<img id="photo" alt="">
<table id="result"></table>
<script type="module">
const $ = (id) => document.getElementById(id);
const status = (text) => ($("status").textContent = text);
// Opened from disk (double-clicked), the page may not load its own files: say what to do.
const SERVE = "This page was opened from a file, and browsers do not let such a page load its " +
  "model: serve this folder on this machine (python3 -m http.server --bind 127.0.0.1 -d " +
  "<this folder>) and open http://127.0.0.1:8000 instead.";
const api = (window.dogBreeds = { last: undefined, frames: [] });
const params = new URLSearchParams(location.search);
const sessions = new Map();
let ort, config, size;

api.ready = (async () => {
  if (location.protocol === "file:") throw new Error(SERVE);
  ort = await import("./ort/ort.wasm.bundle.min.mjs");
  // Threads need a cross-origin isolated page (COOP and COEP headers); otherwise one.
  ort.env.wasm.numThreads = crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  [config, size] = await Promise.all([
    fetch("config.json").then((r) => r.json()),
    fetch("preprocessor_config.json").then((r) => r.json()).then((p) => p.crop_size.height),
  ]);
  const info = config.dog_breeds;
  document.title = info.title;
  $("title").textContent = info.title;
  const choices = [{ value: "fp32", file: "onnx/model.onnx", text: "fp32" }];
  if (info.int8?.written) {
    choices.push({
      value: "int8",
      file: "onnx/model_quantized.onnx",
      text: "int8 (" + info.int8.int8.toFixed(1) + "% on the " + info.int8.part + " part, fp32 " +
        info.int8.fp32.toFixed(1) + "%)",
    });
  }
  $("model").replaceChildren(...choices.map((c) => {
    const option = document.createElement("option");
    option.value = c.file;
    option.textContent = c.text;
    option.selected = c.value === params.get("model");
    return option;
  }));
  await session();
  status("Ready: drop a photo, or use the camera.");
  api.threads = ort.env.wasm.numThreads;
  return api;
})();
api.ready.catch((e) => status(e.message === SERVE ? SERVE : "Could not load the model: " + e.message));

/** The chosen model's session (each created once). */
function session() {
  const file = $("model").value;
  if (!sessions.has(file)) {
    sessions.set(file, ort.InferenceSession.create(file, { executionProviders: ["wasm"] }));
  }
  return sessions.get(file);
}

/** The center square of a photo or frame, as the project crops: nearest-neighbour resize. */
function square(source, width, height) {
  const side = Math.min(width, height);
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = size;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(source, Math.floor((width - side) / 2), Math.floor((height - side) / 2), side, side,
    0, 0, size, size);
  return ctx.getImageData(0, 0, size, size).data;
}

/** Probabilities for RGBA pixels: planar, x / 127.5 - 1, the model's log probabilities back. */
async function classify(rgba) {
  const plane = size * size;
  const x = new Float32Array(3 * plane);
  for (let p = 0, i = 0; p < plane; p++, i += 4) {
    x[p] = rgba[i] / 127.5 - 1;
    x[plane + p] = rgba[i + 1] / 127.5 - 1;
    x[2 * plane + p] = rgba[i + 2] / 127.5 - 1;
  }
  const { logits } = await (await session()).run({
    pixel_values: new ort.Tensor("float32", x, [1, 3, size, size]),
  });
  const values = Array.from(logits.data);
  const max = Math.max(...values);
  const exps = values.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / sum);
}

/** The top 3 as a table; names are the dataset's folder names: text nodes, never markup. */
function show(probs) {
  const names = config.dog_breeds.names;
  const top = probs.map((p, i) => ({ p, i })).sort((a, b) => b.p - a.p).slice(0, 3);
  $("result").replaceChildren(...top.map(({ p, i }) => {
    const row = document.createElement("tr");
    const [name, share, barCell] = [0, 1, 2].map(() => row.insertCell());
    name.textContent = names[i];
    share.textContent = (100 * p).toFixed(1) + "%";
    barCell.style.width = "40%";
    const bar = barCell.appendChild(document.createElement("div"));
    bar.className = "bar";
    bar.style.width = (100 * p).toFixed(1) + "%";
    return row;
  }));
  return top[0].i;
}

async function classifyPhoto(url, name) {
  await api.ready;
  stopCamera();
  const img = $("photo");
  img.hidden = false;
  img.src = url;
  try {
    await img.decode();
  } catch {
    $("result").replaceChildren();
    img.removeAttribute("src");
    status("Could not read " + (name || "this file") + " as a photo: choose a JPEG, PNG or WebP.");
    return;
  }
  const probs = await classify(square(img, img.naturalWidth, img.naturalHeight));
  api.last = { probs };
  const best = show(probs);
  status("Most likely: " + config.dog_breeds.names[best] + " (" + config.dog_breeds.labels[best] + ")");
}

let camera;
async function startCamera() {
  await api.ready;
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: "environment" },
    audio: false,
  });
  const video = $("video");
  video.srcObject = stream;
  await video.play();
  video.hidden = false;
  $("photo").hidden = true;
  $("camera").textContent = "Stop the camera";
  const running = (camera = { stream });
  const recent = [];
  let times = [];
  const nextFrame = () =>
    new Promise((resolve) =>
      video.requestVideoFrameCallback ? video.requestVideoFrameCallback(resolve) : requestAnimationFrame(resolve)
    );
  while (camera === running) {
    await nextFrame();
    if (camera !== running || !video.videoWidth) continue;
    const rgba = square(video, video.videoWidth, video.videoHeight);
    const probs = await classify(rgba);
    api.frames.push({ rgba: Array.from(rgba), probs });
    if (api.frames.length > ${KEPT_FRAMES}) api.frames.shift();
    recent.push(probs);
    if (recent.length > ${SMOOTHED_FRAMES}) recent.shift();
    const mean = probs.map((_, c) => recent.reduce((s, p) => s + p[c], 0) / recent.length);
    const best = show(mean);
    status("Camera: most likely " + config.dog_breeds.names[best] + " (" + config.dog_breeds.labels[best] + ")");
    const now = performance.now();
    times = [...times.filter((t) => t > now - 1000), now];
    $("fps").textContent = times.length + " frames/s";
  }
}

function stopCamera() {
  if (!camera) return;
  camera.stream.getTracks().forEach((t) => t.stop());
  camera = undefined;
  $("video").hidden = true;
  $("camera").textContent = "Use the camera";
  $("fps").textContent = "";
}

function failed(e) { if (e.message !== SERVE) status("Could not classify: " + e.message); }
$("camera").addEventListener("click", () => {
  if (camera) stopCamera();
  else startCamera().catch((e) => status("Could not start the camera: " + e.message));
});
$("model").addEventListener("change", () => {
  api.frames.length = 0;
  const photo = $("photo");
  if (!camera && photo.src) classifyPhoto(photo.src, "").catch(failed);
});
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const file = e.dataTransfer.files[0];
  if (file) classifyPhoto(URL.createObjectURL(file), file.name).catch(failed);
});
$("file").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (file) classifyPhoto(URL.createObjectURL(file), file.name).catch(failed);
});
const photo = params.get("photo");
if (photo) classifyPhoto(photo, photo).catch(failed);
if (params.has("camera")) startCamera().catch((e) => status("Could not start the camera: " + e.message));
</script>
</body>
</html>
`;

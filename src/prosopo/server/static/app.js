// prosopo's page: plain JavaScript, no build step, nothing from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const photos = {};  // input id -> Blob (from a file, a drop or the camera)

const keyField = $("api-key");
keyField.value = sessionStorage.getItem("prosopo-key") || "";
keyField.addEventListener("change", () => sessionStorage.setItem("prosopo-key", keyField.value.trim()));

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function call(method, path, form) {
  showError("");
  const headers = {};
  const key = keyField.value.trim();
  if (key) headers.Authorization = "Bearer " + key;
  let reply;
  try {
    reply = await fetch(path, { method, headers, body: form });
  } catch (err) {
    showError("Network error: the server could not be reached.");
    throw err;
  }
  const isJson = (reply.headers.get("content-type") || "").includes("json");
  const body = isJson ? await reply.json() : { title: reply.statusText, detail: await reply.text() };
  if (!reply.ok) {
    showError(`${body.title || "Error"}: ${body.detail || reply.status}`);
    throw new Error(body.code || String(reply.status));
  }
  return body;
}

function photo(id) {
  const blob = photos[id] || ($(id).files && $(id).files[0]);
  if (!blob) {
    showError("Choose a photo first.");
    throw new Error("no photo");
  }
  return blob;
}

function preview(id, blob) {
  const thumb = { "verify-img1": "verify-thumb1", "verify-img2": "verify-thumb2" }[id];
  if (!thumb) return;
  $(thumb).src = URL.createObjectURL(blob);
  $(thumb).hidden = false;
}

for (const input of document.querySelectorAll("input[type=file]")) {
  input.addEventListener("change", () => {
    delete photos[input.id];
    if (input.files[0]) preview(input.id, input.files[0]);
  });
}

for (const zone of document.querySelectorAll(".drop")) {
  const target = zone.dataset.for;
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (file) {
      photos[target] = file;
      zone.textContent = file.name;
      preview(target, file);
    }
  });
}

// camera: a snapshot from getUserMedia into a Blob
let cameraTarget = null;
let stream = null;
for (const button of document.querySelectorAll(".camera")) {
  button.addEventListener("click", async () => {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: true });
    } catch (err) {
      showError("Camera unavailable: " + err.message);
      return;
    }
    cameraTarget = button.dataset.for;
    $("camera-video").srcObject = stream;
    $("camera-dialog").showModal();
  });
}
function stopCamera() {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  $("camera-dialog").close();
}
$("camera-cancel").addEventListener("click", stopCamera);
$("camera-take").addEventListener("click", () => {
  const video = $("camera-video");
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  canvas.toBlob((blob) => {
    photos[cameraTarget] = blob;
    preview(cameraTarget, blob);
    stopCamera();
  }, "image/jpeg", 0.92);
});

// verify
$("verify-run").addEventListener("click", async () => {
  const form = new FormData();
  form.append("img1", photo("verify-img1"));
  form.append("img2", photo("verify-img2"));
  $("verify-result").textContent = "Comparing…";
  try {
    const r = await call("POST", "/v1/verify", form);
    $("verify-result").textContent = (r.verified ? "Same person" : "Different people") +
      ` (distance ${r.distance.toFixed(3)}, threshold ${r.threshold.toFixed(3)})`;
  } catch {
    $("verify-result").textContent = "";
  }
});

// analyze
function label(face) {
  const parts = [];
  if (face.age !== undefined) parts.push(`${Math.round(face.age)}y`);
  for (const name of ["gender", "emotion", "race"]) {
    const top = face["dominant_" + name];
    if (top) parts.push(`${top} ${Math.round(100 * face[name][top])}%`);
  }
  return parts.join(", ") + (face.reliable ? "" : " (unreliable)");
}

const LABEL_HEIGHT = 20;

function overlap(a, b) {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

// A label of width w for the box i: above the box, else below, else inside
// its top; slid sideways to stay inside the canvas and off other faces and
// labels. The first place that covers nothing wins, else the one that covers least.
function placeLabel(i, w, boxes, placed, width, height) {
  const box = boxes[i];
  const h = LABEL_HEIGHT;
  const rows = [box.y - h, box.y + box.h, box.y];
  const columns = [box.x, box.x + box.w - w, box.x + (box.w - w) / 2];
  for (const other of boxes) columns.push(other.x + other.w + 1, other.x - w - 1);
  let best = null;
  for (const [r, top] of rows.entries()) {
    for (const left of columns) {
      const spot = {
        x: Math.max(0, Math.min(left, width - w)),
        y: Math.max(0, Math.min(top, height - h)),
        w, h,
      };
      let cost = 0;
      for (const [j, other] of boxes.entries()) if (j !== i) cost += 4 * overlap(spot, other);
      for (const label of placed) cost += 8 * overlap(spot, label);
      cost += overlap(spot, box) + r + Math.abs(spot.x - box.x) / 1000;  // prefer above, then below, near the box
      if (!best || cost < best.cost) best = { ...spot, cost };
    }
  }
  return best;
}

function fit(ctx, text, width) {
  if (ctx.measureText(text).width + 8 <= width) return text;
  while (text.length > 1 && ctx.measureText(text + "…").width + 8 > width) text = text.slice(0, -1);
  return text + "…";
}

async function draw(blob, faces) {
  const bitmap = await createImageBitmap(blob, { imageOrientation: "from-image" });
  const canvas = $("analyze-canvas");
  const scale = Math.min(2, 640 / bitmap.width);  // small photos are enlarged so labels stay readable
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  ctx.lineWidth = 2;
  ctx.font = "14px sans-serif";
  const boxes = faces.map((f) => ({ x: f.box.x * scale, y: f.box.y * scale, w: f.box.w * scale, h: f.box.h * scale }));
  ctx.strokeStyle = "#00c853";
  for (const b of boxes) ctx.strokeRect(b.x, b.y, b.w, b.h);
  const placed = [];
  for (const [i, face] of faces.entries()) {
    const text = fit(ctx, `${i + 1}: ${label(face)}`, canvas.width);  // the number of the face in the list
    const spot = placeLabel(i, Math.min(canvas.width, ctx.measureText(text).width + 8), boxes, placed,
                            canvas.width, canvas.height);
    placed.push({ n: i + 1, x: spot.x, y: spot.y, w: spot.w, h: spot.h, text });
    ctx.fillStyle = "#00c853";
    ctx.fillRect(spot.x, spot.y, spot.w, spot.h);
    ctx.fillStyle = "#000";
    ctx.fillText(text, spot.x + 4, spot.y + 15);
  }
  // where each label went, in canvas pixels, for tests and assistive tools
  canvas.dataset.labels = JSON.stringify(placed);
  canvas.dataset.boxes = JSON.stringify(boxes);
}

$("analyze-run").addEventListener("click", async () => {
  const blob = photo("analyze-img");
  const form = new FormData();
  form.append("img", blob);
  form.append("actions", $("analyze-race").checked ? "age,gender,emotion,race" : "age,gender,emotion");
  const list = $("analyze-result");
  list.replaceChildren();
  $("analyze-canvas").width = 0;  // no stale picture beside a new answer
  try {
    const r = await call("POST", "/v1/analyze", form);
    await draw(blob, r.faces);
    for (const [i, face] of r.faces.entries()) {
      const li = document.createElement("li");
      li.textContent = `Face ${i + 1}: ${label(face)}` + (face.warnings.length ? ` — ${face.warnings.join("; ")}` : "");
      list.append(li);
    }
  } catch { /* shown in the error area */ }
});

// gallery
function gallery() {
  const name = $("gallery-name").value.trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(name)) {
    showError("Gallery names are 1-64 letters, digits, - or _.");
    throw new Error("bad gallery");
  }
  return "/v1/galleries/" + encodeURIComponent(name);
}

$("enroll-run").addEventListener("click", async () => {
  const form = new FormData();
  form.append("identity", $("enroll-identity").value.trim());
  form.append("legal_basis", $("enroll-basis").value.trim());
  form.append("img", photo("enroll-img"));
  try {
    const r = await call("POST", gallery() + "/enroll", form);
    $("enroll-result").textContent = `Enrolled ${r.identity} (${r.added} face${r.added === 1 ? "" : "s"}).`;
    await listIdentities();
  } catch {
    $("enroll-result").textContent = "";
  }
});

$("search-run").addEventListener("click", async () => {
  const form = new FormData();
  form.append("img", photo("search-img"));
  const list = $("search-result");
  list.replaceChildren();
  try {
    const r = await call("POST", gallery() + "/identify", form);
    if (!r.faces.length) list.append(Object.assign(document.createElement("li"), { textContent: "No face." }));
    for (const [i, face] of r.faces.entries()) {
      const li = document.createElement("li");
      li.textContent = face.known
        ? `Face ${i + 1}: ${face.identity} (distance ${face.match.distance.toFixed(3)})`
        : `Face ${i + 1}: unknown`;
      list.append(li);
    }
  } catch { /* shown in the error area */ }
});

async function listIdentities() {
  const list = $("identities");
  list.replaceChildren();
  const r = await call("GET", gallery() + "/identities");
  if (!r.identities.length) list.append(Object.assign(document.createElement("li"), { textContent: "Nobody yet." }));
  for (const person of r.identities) {
    const li = document.createElement("li");
    li.textContent = `${person.name} (${person.faces} face${person.faces === 1 ? "" : "s"}) `;
    const erase = document.createElement("button");
    erase.type = "button";
    erase.textContent = "Erase";
    erase.setAttribute("aria-label", "Erase " + person.name);
    erase.addEventListener("click", async () => {
      if (!confirm(`Erase every trace of ${person.name}? This cannot be undone.`)) return;
      await call("DELETE", gallery() + "/identities/" + encodeURIComponent(person.name));
      await listIdentities();
    });
    li.append(erase);
    list.append(li);
  }
}
$("list-run").addEventListener("click", () => listIdentities().catch(() => {}));

// live camera: downscaled JPEG frames to the server over a WebSocket, one in
// flight at a time, within the frame rate the server allows; the tracks it
// answers are drawn over the video.
const LIVE_WIDTH = 640;
let live = null;

function cameraProblem(err) {
  if (!navigator.mediaDevices) return "The camera needs a secure page (https, or localhost).";
  switch (err.name) {
    case "NotAllowedError": case "SecurityError":
      return "Camera permission was denied: allow the camera for this page and try again.";
    case "NotFoundError": case "OverconstrainedError":
      return "No camera was found.";
    case "NotReadableError":
      return "The camera cannot be read: is another program using it?";
    default:
      return "Camera unavailable: " + err.message;
  }
}

function liveProblem(message) {  // at the top of the page, and beside the live view where the eye is
  showError(message);
  $("live-status").textContent = message;
}

function closeProblem(event) {
  if (event.code === 1000) return "";
  return event.code === 1006 ? "The connection to the server failed or was lost."
                             : `The server closed the live session (${event.code} ${event.reason}).`;
}

async function startLive() {
  showError("");
  const name = $("live-gallery").value.trim();
  if (name && !/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(name)) {
    liveProblem("Gallery names are 1-64 letters, digits, - or _.");
    return;
  }
  let media;
  try {
    media = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: LIVE_WIDTH } }, audio: false });
  } catch (err) {
    liveProblem(cameraProblem(err));
    return;
  }
  const video = $("live-video");
  video.srcObject = media;
  $("live-view").hidden = false;
  $("live-view").scrollIntoView({ block: "nearest" });
  $("live-people").replaceChildren();
  try {
    await video.play();  // explicitly: Chromium pauses a muted autoplay video that is off screen
  } catch (err) {
    media.getTracks().forEach((t) => t.stop());
    $("live-view").hidden = true;
    liveProblem("The camera's picture cannot be shown: " + err.message);
    return;
  }
  const path = name ? `/v1/galleries/${encodeURIComponent(name)}/live` : "/v1/live";
  const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + path);
  const session = { media, socket, busy: false, maxFps: 1, sentAt: 0, problem: "", answered: [], people: new Map() };
  live = session;
  $("live-start").disabled = true;
  $("live-stop").disabled = false;
  $("live-status").textContent = "Connecting…";
  // the key goes in the first message: never in the URL, and browsers cannot set headers on a WebSocket
  socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "start", key: keyField.value.trim() })));
  socket.addEventListener("message", (e) => { if (live === session) liveMessage(session, JSON.parse(e.data)); });
  socket.addEventListener("close", (e) => { if (live === session) stopLive(session.problem || closeProblem(e)); });
}

function stopLive(problem) {
  const session = live;
  live = null;
  if (session) {
    session.media.getTracks().forEach((t) => t.stop());
    if (session.socket.readyState === WebSocket.OPEN) session.socket.send(JSON.stringify({ type: "stop" }));
    if (session.socket.readyState <= WebSocket.OPEN) session.socket.close();
  }
  $("live-video").srcObject = null;
  $("live-view").hidden = true;
  $("live-start").disabled = false;
  $("live-stop").disabled = true;
  if (problem) liveProblem(problem);
  else $("live-status").textContent = "Stopped.";
}

function liveMessage(session, m) {
  if (m.type === "ready") {
    session.maxFps = m.limits.max_fps;
    $("live-status").textContent = "Live.";
  } else if (m.type === "error" && m.seq === undefined) {
    session.problem = `${m.error.title}: ${m.error.detail}`;  // the close follows
    return;
  } else if (m.type === "result") {
    drawTracks(session, m);
  } else if (m.type === "error") {
    $("live-status").textContent = `Frame refused: ${m.error.detail}`;
  }
  session.busy = false;
  const wait = Math.max(0, 1100 / session.maxFps - (performance.now() - session.sentAt));
  setTimeout(() => sendFrame(session), wait);
}

function sendFrame(session) {
  const video = $("live-video");
  if (live !== session || session.busy || session.socket.readyState !== WebSocket.OPEN) return;
  if (video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA || !video.videoWidth) {
    setTimeout(() => sendFrame(session), 100);  // no picture yet
    return;
  }
  const scale = Math.min(1, LIVE_WIDTH / video.videoWidth);
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  session.busy = true;
  canvas.toBlob((blob) => {
    if (live !== session || session.socket.readyState !== WebSocket.OPEN) return;
    session.sentAt = performance.now();
    session.socket.send(blob);
  }, "image/jpeg", 0.8);
}

function drawTracks(session, m) {
  const now = performance.now();
  session.answered = session.answered.filter((t) => now - t < 3000).concat([now]);
  const video = $("live-video");
  const canvas = $("live-overlay");
  canvas.width = video.clientWidth;
  canvas.height = video.clientHeight;
  const scale = canvas.width / m.width;
  const ctx = canvas.getContext("2d");
  ctx.lineWidth = 2;
  ctx.font = "14px sans-serif";
  const drawn = [];
  for (const t of m.tracks) {
    const b = { x: t.box.x * scale, y: t.box.y * scale, w: t.box.w * scale, h: t.box.h * scale };
    const text = `#${t.track_id}` + (t.identity ? ` ${t.identity}` : "");
    const colour = t.identity ? "#00c853" : "#ffab00";
    ctx.strokeStyle = colour;
    ctx.setLineDash(t.detected ? [] : [6, 4]);  // dashed: where the tracker expects the face
    ctx.strokeRect(b.x, b.y, b.w, b.h);
    const w = ctx.measureText(text).width + 8;
    const y = b.y >= LABEL_HEIGHT ? b.y - LABEL_HEIGHT : b.y + b.h;
    ctx.fillStyle = colour;
    ctx.fillRect(b.x, y, w, LABEL_HEIGHT);
    ctx.fillStyle = "#000";
    ctx.fillText(text, b.x + 4, y + 15);
    drawn.push({ id: t.track_id, identity: t.identity, ...b });
    if (t.identity) session.people.set(t.identity, t.track_id);
  }
  ctx.setLineDash([]);
  // what was drawn, in canvas pixels, for tests and assistive tools
  canvas.dataset.tracks = JSON.stringify(drawn);
  const fps = session.answered.length / 3;
  $("live-status").textContent = `Live: ${m.tracks.length} face${m.tracks.length === 1 ? "" : "s"}, ` +
    `${fps.toFixed(1)} frames/s, ${Math.round(now - session.sentAt)} ms a frame.`;
  const list = $("live-people");
  if (list.children.length !== session.people.size) {
    list.replaceChildren(...[...session.people].map(([person, track]) =>
      Object.assign(document.createElement("li"), { textContent: `${person} (track #${track})` })));
  }
}

$("live-start").addEventListener("click", startLive);
$("live-stop").addEventListener("click", () => stopLive(""));

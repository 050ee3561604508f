// The audit page: a live table of stored events. Plain ES modules, no build step.
// Data comes from the read API with `Authorization: Bearer <token>` when the
// service has AUDIT_READ_TOKEN; the live tail is read with fetch() streaming
// (EventSource cannot send that header), resuming with Last-Event-ID.

const TOKEN_KEY = "audit.readToken";
const PAGE_SIZE = 100;
const MAX_ROWS = 2000;
const STATS_EVERY_MS = 3000;
const DEAD_REFRESH_MS = 10000;
const CORE = ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema"];

const $ = (selector) => document.querySelector(selector);

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  filters: { type: "", source: "", subject: "" },
  events: new Map(),
  deadLetters: new Map(),
  lastSeq: 0,
  nextCursor: null,
  stream: null,
  generation: 0,
  retryDelay: 1000,
  statsTimer: null,
  statsDue: false,
  deadTimer: null,
};

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (state.token) headers.set("Authorization", `Bearer ${state.token}`);
  const response = await fetch(path, { ...options, headers, cache: "no-store" });
  if (response.status === 401) throw new Unauthorized("unauthorized");
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail || detail;
    } catch {
      // the body was not JSON; the status text will do
    }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response;
}

function query(extra = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(state.filters)) {
    if (value) params.set(name, value);
  }
  for (const [name, value] of Object.entries(extra)) params.set(name, String(value));
  return params.toString();
}

function element(tag, { text, className, title, attrs } = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  if (title) node.title = title;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  return node;
}

function typeClass(type) {
  if (/delete|remove/i.test(type)) return "type-pill delete";
  if (/update|change/i.test(type)) return "type-pill update";
  if (/store|create|add/i.test(type)) return "type-pill store";
  return "type-pill";
}

function shortTime(iso) {
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return iso;
  const today = new Date().toDateString() === moment.toDateString();
  const time = moment.toLocaleTimeString([], { hour12: false }) + "." + String(moment.getMilliseconds()).padStart(3, "0");
  return today ? time : `${moment.toLocaleDateString()} ${time}`;
}

function setLive(stateName, text) {
  const badge = $("#live");
  badge.dataset.state = stateName;
  badge.textContent = text;
}

// ---- events table -------------------------------------------------------

function eventRow(item, fresh) {
  const row = element("tr", { attrs: { "data-seq": String(item.seq), "data-id": item.id } });
  if (fresh) row.classList.add("fresh");
  const time = element("td", { text: shortTime(item.received_at), className: "time", title: item.received_at });
  const type = element("td");
  type.append(element("span", { text: item.type, className: typeClass(item.type) }));
  row.append(
    time,
    type,
    element("td", { text: item.subject ?? "—", className: "mono", title: item.subject ?? "" }),
    element("td", { text: item.source, className: "mono", title: item.source }),
    element("td", { text: item.id, className: "mono", title: item.id }),
    element("td", { text: item.mode, className: "mode" }),
  );
  row.addEventListener("click", () => showDetail(item));
  return row;
}

function updateEventsFooter() {
  const shown = state.events.size;
  $("#events-empty").hidden = shown > 0;
  $("#shown-count").textContent = shown ? `${shown} shown, newest first` : "";
  $("#more").hidden = !state.nextCursor;
}

function addOlder(items) {
  const body = $("#events-table tbody");
  for (const item of items) {
    if (state.events.has(item.seq)) continue;
    state.events.set(item.seq, item);
    body.append(eventRow(item, false));
  }
}

function addLive(item) {
  if (state.events.has(item.seq)) return;
  state.events.set(item.seq, item);
  state.lastSeq = Math.max(state.lastSeq, item.seq);
  const body = $("#events-table tbody");
  body.prepend(eventRow(item, true));
  while (body.rows.length > MAX_ROWS) {
    const last = body.rows[body.rows.length - 1];
    state.events.delete(Number(last.dataset.seq));
    last.remove();
    state.nextCursor = null; // older rows were dropped; "load older" would leave a hole
  }
  updateEventsFooter();
  scheduleStats();
}

async function loadEvents() {
  const generation = ++state.generation;
  stopStream();
  const page = await (await api(`/v1/events?${query({ limit: PAGE_SIZE })}`)).json();
  if (generation !== state.generation) return;
  state.events.clear();
  $("#events-table tbody").replaceChildren();
  addOlder(page.items);
  state.lastSeq = page.items.length ? page.items[0].seq : 0;
  state.nextCursor = page.next_cursor;
  updateEventsFooter();
  startStream(generation);
}

async function loadOlder() {
  if (!state.nextCursor) return;
  const generation = state.generation;
  const page = await (await api(`/v1/events?${query({ limit: PAGE_SIZE, cursor: state.nextCursor })}`)).json();
  if (generation !== state.generation) return;
  addOlder(page.items);
  state.nextCursor = page.next_cursor;
  updateEventsFooter();
}

// ---- live tail (Server-Sent Events over fetch) --------------------------

function stopStream() {
  if (state.stream) state.stream.abort();
  state.stream = null;
}

function parseFrame(frame) {
  let id = null;
  const data = [];
  for (const line of frame.split(/\r?\n/)) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "id") id = value;
    else if (field === "data") data.push(value);
  }
  return data.length ? { id, data: data.join("\n") } : null;
}

async function startStream(generation) {
  const controller = new AbortController();
  state.stream = controller;
  setLive("connecting", "connecting…");
  try {
    const response = await api(`/v1/events/stream?${query()}`, {
      headers: { Accept: "text/event-stream", "Last-Event-ID": String(state.lastSeq) },
      signal: controller.signal,
    });
    setLive("live", "live");
    state.retryDelay = 1000;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let boundary;
      while ((boundary = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const frame = parseFrame(buffer.slice(0, boundary));
        buffer = buffer.slice(boundary).replace(/^\r?\n\r?\n/, "");
        if (frame) addLive(JSON.parse(frame.data));
      }
    }
  } catch (error) {
    if (controller.signal.aborted) return;
    if (error instanceof Unauthorized) {
      askForToken("The token is no longer accepted.");
      return;
    }
  }
  if (controller.signal.aborted || generation !== state.generation) return;
  setLive("error", "reconnecting…");
  const delay = state.retryDelay;
  state.retryDelay = Math.min(state.retryDelay * 2, 10000);
  setTimeout(() => {
    if (generation === state.generation && state.stream === controller) startStream(generation);
  }, delay);
}

// ---- counts -------------------------------------------------------------

function scheduleStats() {
  if (state.statsTimer) {
    state.statsDue = true;
    return;
  }
  state.statsTimer = setTimeout(() => {
    state.statsTimer = null;
    if (state.statsDue) {
      state.statsDue = false;
      loadStats().catch(() => {});
    }
  }, STATS_EVERY_MS);
  loadStats().catch(() => {});
}

async function loadStats() {
  const stats = await (await api("/v1/stats")).json();
  const list = $("#type-counts");
  const options = $("#type-options");
  list.replaceChildren();
  options.replaceChildren();
  const entries = Object.entries(stats.types).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  for (const [type, count] of entries) {
    const button = element("button", { attrs: { type: "button", "data-type": type } });
    if (type === state.filters.type) button.classList.add("active");
    button.append(element("span", { text: type, className: "name", title: type }), element("span", { text: count.toLocaleString(), className: "count" }));
    button.addEventListener("click", () => setFilters({ ...state.filters, type: state.filters.type === type ? "" : type }));
    const item = element("li");
    item.append(button);
    list.append(item);
    options.append(element("option", { attrs: { value: type } }));
  }
  $("#total-count").textContent = stats.total.toLocaleString();
  const dead = $("#dead-count");
  dead.hidden = !stats.dead_letters;
  dead.textContent = String(stats.dead_letters);
}

// ---- dead letters -------------------------------------------------------

async function loadDeadLetters() {
  const page = await (await api("/v1/dead-letters?limit=200")).json();
  const body = $("#dead-table tbody");
  body.replaceChildren();
  state.deadLetters.clear();
  for (const item of page.items) {
    state.deadLetters.set(item.seq, item);
    const row = element("tr", { attrs: { "data-seq": String(item.seq), "data-id": item.id } });
    const type = element("td");
    type.append(element("span", { text: item.type, className: typeClass(item.type) }));
    row.append(
      element("td", { text: shortTime(item.received_at), className: "time", title: item.received_at }),
      type,
      element("td", { text: item.subject ?? "—", className: "mono" }),
      element("td", { text: item.error.code ?? "—", className: "code" }),
      element("td", { text: item.error.dest ?? "—", className: "mono", title: item.error.dest ?? "" }),
      element("td", { text: item.error.data ?? "", title: item.error.data ?? "" }),
    );
    row.addEventListener("click", () => showDetail(item));
    body.append(row);
  }
  $("#dead-empty").hidden = page.items.length > 0;
}

// ---- detail -------------------------------------------------------------

function fillList(list, pairs, extensions = new Set()) {
  list.replaceChildren();
  for (const [name, value] of pairs) {
    list.append(element("dt", { text: name, className: extensions.has(name) ? "extension" : "" }));
    list.append(element("dd", { text: value === null || value === undefined ? "—" : String(value) }));
  }
}

function showDetail(item) {
  $("#detail-title").textContent = item.type;
  $("#detail-sub").textContent = `${item.source} · ${item.id} · seq ${item.seq}`;
  const names = Object.keys(item.attributes);
  const extensions = names.filter((name) => !CORE.includes(name)).sort();
  const pairs = [...CORE.filter((name) => name in item.attributes), ...extensions].map((name) => [name, item.attributes[name]]);
  pairs.push(["received at", item.received_at], ["content mode", item.mode]);
  fillList($("#detail-attributes"), pairs, new Set(extensions));

  const errorBox = $("#detail-error");
  errorBox.hidden = !item.error;
  if (item.error) {
    fillList($("#detail-error-list"), [
      ["code", item.error.code],
      ["destination", item.error.dest],
      ["response", item.error.data],
    ]);
  }

  let text = "(no data)";
  let kind = item.datacontenttype || "";
  if (item.data !== null && item.data !== undefined) {
    text = JSON.stringify(item.data, null, 2);
  } else if (item.data_text !== null && item.data_text !== undefined) {
    text = item.data_text;
  } else if (item.data_base64) {
    text = item.data_base64;
    kind = `${kind} (binary, base64)`.trim();
  }
  $("#detail-data").textContent = text;
  $("#detail-data-kind").textContent = kind;
  const dialog = $("#detail");
  if (!dialog.open) dialog.showModal();
}

// ---- filters, tabs, export, token ---------------------------------------

function readFiltersFromUrl() {
  const params = new URLSearchParams(location.search);
  for (const name of Object.keys(state.filters)) state.filters[name] = params.get(name) || "";
  const form = $("#filters");
  for (const name of Object.keys(state.filters)) form.elements[name].value = state.filters[name];
}

function setFilters(filters) {
  const changed = Object.keys(filters).some((name) => filters[name] !== state.filters[name]);
  if (!changed) return;
  state.filters = { ...filters };
  const form = $("#filters");
  for (const name of Object.keys(filters)) form.elements[name].value = filters[name];
  const search = query();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
  for (const button of document.querySelectorAll("#type-counts button")) {
    button.classList.toggle("active", button.dataset.type === state.filters.type);
  }
  loadEvents().catch(handleError);
}

function filtersFromForm() {
  const form = $("#filters");
  return {
    type: form.elements.type.value.trim(),
    source: form.elements.source.value.trim(),
    subject: form.elements.subject.value.trim(),
  };
}

function showTab(name) {
  const dead = name === "dead";
  $("#tab-events").setAttribute("aria-selected", String(!dead));
  $("#tab-dead").setAttribute("aria-selected", String(dead));
  $("#events-panel").hidden = dead;
  $("#dead-panel").hidden = !dead;
  clearInterval(state.deadTimer);
  if (dead) {
    loadDeadLetters().catch(handleError);
    state.deadTimer = setInterval(() => loadDeadLetters().catch(handleError), DEAD_REFRESH_MS);
  }
}

async function exportEvents() {
  const response = await api(`/v1/events/export?${query()}`);
  const blob = await response.blob();
  const disposition = response.headers.get("content-disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  const link = element("a", { attrs: { href: URL.createObjectURL(blob), download: match ? match[1] : "audit-events.ndjson" } });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function askForToken(message) {
  stopStream();
  state.generation++;
  clearInterval(state.deadTimer);
  $("#app").hidden = true;
  $("#token-panel").hidden = false;
  const error = $("#token-error");
  error.hidden = !message;
  error.textContent = message || "";
  setLive("error", "locked");
  $("#token-input").focus();
}

function handleError(error) {
  if (error instanceof Unauthorized) {
    askForToken(state.token ? "That token was not accepted." : "");
    return;
  }
  setLive("error", `error: ${error.message}`);
}

async function start() {
  $("#token-panel").hidden = true;
  $("#app").hidden = false;
  $("#forget-token").hidden = !state.token;
  try {
    await loadStats();
    await loadEvents();
  } catch (error) {
    handleError(error);
  }
}

function wire() {
  let debounce = null;
  const form = $("#filters");
  form.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => setFilters(filtersFromForm()), 300);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setFilters(filtersFromForm());
  });
  form.addEventListener("reset", () => setTimeout(() => setFilters(filtersFromForm()), 0));
  $("#more").addEventListener("click", () => loadOlder().catch(handleError));
  $("#export").addEventListener("click", () => exportEvents().catch(handleError));
  $("#tab-events").addEventListener("click", () => showTab("events"));
  $("#tab-dead").addEventListener("click", () => showTab("dead"));
  $("#dead-refresh").addEventListener("click", () => loadDeadLetters().catch(handleError));
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("#token-input").value.trim();
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $("#token-input").value = "";
    start();
  });
  $("#forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    askForToken("");
  });
}

wire();
readFiltersFromUrl();
start();

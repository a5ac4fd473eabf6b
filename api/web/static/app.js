// Lore's web app: plain JavaScript over the /v1 API, with the same keys as any client.
// Every string from the server goes into the page as text (el()), never as HTML.

const $ = (selector) => document.querySelector(selector);
const KEY_STORAGE = "lore.apiKey";

// ---- DOM and HTTP helpers ------------------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// replaceChildren, with arrays flattened and null/false left out (as el() does).
function fill(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : document.createTextNode(String(c)))));
}

function headers(extra = {}) {
  const key = localStorage.getItem(KEY_STORAGE);
  return key ? { Authorization: `Bearer ${key}`, ...extra } : extra;
}

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function problem(response) {
  let detail = response.statusText;
  try { const body = await response.json(); detail = body.detail || body.title || detail; } catch { /* not JSON */ }
  if (response.status === 401) detail += " (set an API key with the “API key” button)";
  return new ApiError(response.status, `${response.status}: ${detail}`);
}

async function api(path, { method = "GET", body, form } = {}) {
  const init = { method, headers: headers(body ? { "Content-Type": "application/json" } : {}) };
  if (body) init.body = JSON.stringify(body);
  if (form) init.body = form;
  const response = await fetch(path, init);
  if (!response.ok) throw await problem(response);
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

function showError(target, error) {
  fill(target, el("p", { class: "error", role: "alert" }, error.message || String(error)));
}

function when(iso) { return iso ? new Date(iso).toLocaleString() : ""; }

// ---- tabs ----------------------------------------------------------------------------------------
const loaders = {};
function showView(name) {
  for (const tab of document.querySelectorAll("[role=tab]")) tab.setAttribute("aria-selected", String(tab.dataset.view === name));
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  loaders[name]?.();
}
$("#tabs").addEventListener("click", (event) => { if (event.target.dataset.view) showView(event.target.dataset.view); });
$("#tabs").addEventListener("keydown", (event) => {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  const index = tabs.indexOf(document.activeElement);
  if (index < 0 || !["ArrowLeft", "ArrowRight"].includes(event.key)) return;
  const next = tabs[(index + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
  next.focus(); showView(next.dataset.view);
});

// ---- API key -------------------------------------------------------------------------------------
$("#key-button").addEventListener("click", () => { $("#key-input").value = localStorage.getItem(KEY_STORAGE) || ""; $("#key-dialog").showModal(); });
$("#key-dialog").addEventListener("close", () => {
  const choice = $("#key-dialog").returnValue;
  if (choice === "save" && $("#key-input").value.trim()) localStorage.setItem(KEY_STORAGE, $("#key-input").value.trim());
  if (choice === "clear") localStorage.removeItem(KEY_STORAGE);
  refreshStatus();
});

async function refreshStatus() {
  try {
    const response = await fetch("/readyz");
    const ready = await response.json();
    $("#status").textContent = ready.status === "ready" ? `${ready.documents} documents · ${ready.index_vectors} passages` : `knowledge base ${ready.status}`;
  } catch { $("#status").textContent = "server unreachable"; }
}

// ---- sources: a citation or a fact opens the passage, the cited sentence marked ----------------------
async function openChunk(chunkId, span = null) {
  const panel = $("#source-panel");
  const body = $("#source-body");
  panel.hidden = false;
  fill(body, el("p", { class: "muted" }, "Loading…"));
  try {
    const chunk = await api(`/v1/chunks/${encodeURIComponent(chunkId)}`);
    $("#source-title").textContent = chunk.title || chunk.source;
    const text = chunk.text;
    let content = [text];
    if (span && span.end > chunk.start && span.start < chunk.end) {
      // Citation offsets are in the document; the chunk starts at chunk.start.
      const from = Math.max(0, span.start - chunk.start), to = Math.min(text.length, span.end - chunk.start);
      content = [text.slice(0, from), el("mark", { id: "cited" }, text.slice(from, to)), text.slice(to)];
    }
    fill(body, 
      el("p", { class: "muted" }, chunk.source),
      el("div", { class: "chunk-text" }, content),
      el("p", {}, el("button", { type: "button", onclick: () => { panel.hidden = true; showView("documents"); openDocument(chunk.document_id); } }, "Open the document")),
    );
    panel.focus();
    $("#cited")?.scrollIntoView({ block: "center" });
  } catch (error) { showError(body, error); }
}
$("#source-close").addEventListener("click", () => { $("#source-panel").hidden = true; });
document.addEventListener("keydown", (event) => { if (event.key === "Escape") $("#source-panel").hidden = true; });

function citationChip(citation) {
  return el("button", { type: "button", class: "cite", "aria-label": `Source ${citation.number}: ${citation.source}`,
    onclick: () => openChunk(citation.chunk_id, citation) }, `${citation.number}`);
}

// "... the Platform team [1][2]." with each [n] a chip that opens its source.
function withCitationChips(text, citations) {
  const byNumber = new Map(citations.map((c) => [c.number, c]));
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const citation = byNumber.get(Number(match[1]));
    if (!citation) continue;
    parts.push(text.slice(last, match.index), citationChip(citation));
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

function factList(facts) {
  if (!facts.length) return null;
  return el("ul", { class: "facts", "aria-label": "Graph facts used" }, facts.map((fact) =>
    el("li", {}, `${fact.subject} — ${fact.predicate.toLowerCase().replaceAll("_", " ")} → ${fact.object} `,
      fact.chunk_ids.slice(0, 3).map((id, i) => el("button", { type: "button", class: "cite", "aria-label": `Source of this fact (${i + 1})`, onclick: () => openChunk(id) }, "source")))));
}

// ---- Ask: streamed answers, a conversation of follow-ups -----------------------------------------------
let conversation = [];

async function* serverSentEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replaceAll("\r\n", "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trimStart();
      }
      if (data) yield { event, data: JSON.parse(data) };
    }
  }
}

function renderAnswer(turn, answer, asked) {
  turn.classList.toggle("abstained", answer.abstained);
  const seen = new Map();
  for (const c of answer.citations) if (!seen.has(c.number)) seen.set(c.number, c);
  fill(turn, 
    answer.question !== asked ? el("p", { class: "rewritten" }, `Searched for: ${answer.question}`) : null,
    el("p", { class: "answer-text" }, withCitationChips(answer.answer, answer.citations)),
    answer.abstained ? el("p", { class: "notice" }, "The knowledge base does not hold an answer to this question, so Lore does not guess.") : null,
    seen.size ? el("ol", { class: "sources", "aria-label": "Sources" }, [...seen.values()].map((c) =>
      el("li", { value: c.number }, el("button", { type: "button", class: "cite source-chip", onclick: () => openChunk(c.chunk_id, c) }, c.source),
        " ", el("span", { class: "muted" }, c.snippet)))) : null,
    factList(answer.facts),
  );
}

$("#ask-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const question = $("#ask-input").value.trim();
  if (!question) return;
  $("#ask-input").value = "";
  $("#ask-submit").disabled = true;
  const log = $("#conversation");
  log.append(el("div", { class: "turn user" }, question));
  const text = el("p", { class: "answer-text" });
  const turn = el("div", { class: "turn assistant", "aria-busy": "true" }, text);
  log.append(turn);
  try {
    const response = await fetch("/v1/ask/stream", { method: "POST", headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ question, history: conversation }) });
    if (!response.ok) throw await problem(response);
    for await (const { event: kind, data } of serverSentEvents(response)) {
      if (kind === "token") text.append(data.text);
      else if (kind === "answer") {
        renderAnswer(turn, data, question);
        conversation.push({ role: "user", content: question }, { role: "assistant", content: data.answer });
      } else if (kind === "error") throw new Error(data.detail);
    }
  } catch (error) { showError(turn, error); }
  turn.removeAttribute("aria-busy");
  $("#ask-submit").disabled = false;
  $("#ask-input").focus();
});
$("#ask-input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("#ask-form").requestSubmit(); }
});
$("#ask-new").addEventListener("click", () => { conversation = []; fill($("#conversation")); $("#ask-input").focus(); });

// ---- Search ------------------------------------------------------------------------------------
function listOf(value) { return value.split(",").map((s) => s.trim()).filter(Boolean); }

function passageCard(passage) {
  const scores = Object.entries(passage.scores).map(([name, v]) => `${name} ${v.toFixed(3)}`).join(" · ");
  return el("article", { class: "passage" },
    el("h3", {}, el("button", { type: "button", class: "cite source-chip", onclick: () => openChunk(passage.chunk_id, null) }, passage.title || passage.source)),
    el("p", { class: "scores" }, `score ${passage.score.toFixed(3)}${scores ? " — " + scores : ""} · ${passage.source}`),
    el("p", { class: "chunk-text" }, passage.text.length > 600 ? passage.text.slice(0, 600) + "…" : passage.text));
}

$("#search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const out = $("#search-results");
  const filters = {};
  if ($("#search-collection").value.trim()) filters.collections = listOf($("#search-collection").value);
  if ($("#search-kind").value) filters.kinds = [$("#search-kind").value];
  if ($("#search-source").value.trim()) filters.source_prefix = $("#search-source").value.trim();
  if ($("#search-from").value) filters.date_from = $("#search-from").value;
  if ($("#search-to").value) filters.date_to = $("#search-to").value;
  if ($("#search-language").value.trim()) filters.languages = listOf($("#search-language").value);
  if ($("#search-person").value.trim()) filters.people = listOf($("#search-person").value);
  const body = { question: $("#search-input").value.trim() };
  if ($("#search-mode").value) body.mode = $("#search-mode").value;
  if (Object.keys(filters).length) body.filters = filters;
  fill(out, el("p", { class: "muted" }, "Searching…"));
  try {
    const found = await api("/v1/search", { method: "POST", body });
    fill(out, 
      el("p", { class: "muted" }, `${found.passages.length} passages in ${(found.seconds * 1000).toFixed(0)} ms`),
      found.passages.map(passageCard), factList(found.facts));
  } catch (error) { showError(out, error); }
});

// ---- Documents ---------------------------------------------------------------------------------
async function loadDocuments() {
  const tbody = $("#documents-table tbody");
  const params = new URLSearchParams({ limit: "1000" });
  if ($("#documents-q").value.trim()) params.set("q", $("#documents-q").value.trim());
  if ($("#documents-kind").value) params.set("kind", $("#documents-kind").value);
  try {
    const list = await api(`/v1/documents?${params}`);
    fill(tbody, ...list.documents.map((d) => el("tr", {},
      el("td", {}, d.source), el("td", {}, d.title), el("td", {}, d.kind), el("td", {}, d.collection),
      el("td", {}, d.chunk_count), el("td", {}, when(d.ingested_at)),
      el("td", {}, el("button", { type: "button", "aria-label": `Open ${d.source}`, onclick: () => openDocument(d.id) }, "Open"), " ",
        el("button", { type: "button", "aria-label": `Delete ${d.source}`, onclick: () => deleteDocument(d) }, "Delete")))));
    if (!list.documents.length) fill(tbody, el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No documents.")));
  } catch (error) { fill(tbody, el("tr", {}, el("td", { colspan: 7, class: "error" }, error.message))); }
}
loaders.documents = loadDocuments;
$("#documents-filter").addEventListener("submit", (event) => { event.preventDefault(); loadDocuments(); });

async function deleteDocument(document_) {
  if (!confirm(`Delete ${document_.source}? Its passages and graph facts go with it.`)) return;
  try { await api(`/v1/documents/${document_.id}`, { method: "DELETE" }); fill($("#document-view")); loadDocuments(); refreshStatus(); }
  catch (error) { showError($("#document-view"), error); }
}

async function openDocument(id) {
  const view = $("#document-view");
  fill(view, el("p", { class: "muted" }, "Loading…"));
  try {
    const content = await api(`/v1/documents/${encodeURIComponent(id)}/content`);
    const d = content.document;
    fill(view, 
      el("h2", {}, d.title || d.source),
      el("p", { class: "muted" }, `${d.source} · ${d.kind} · ${d.language} · collection ${d.collection} · ${d.chunk_count} chunks`),
      el("h3", {}, `Entities (${content.entities.length})`),
      el("p", {}, content.entities.map((e) => el("button", { type: "button", class: "entity-chip", title: e.type,
        onclick: () => { showView("graph"); showEntity(e.id); } }, `${e.name} · ${e.type}`))),
      el("h3", {}, "Chunks"),
      content.chunks.map((c) => el("article", { class: "passage", id: `chunk-${c.id}` },
        el("p", { class: "scores" }, `${c.heading_path.join(" › ") || "—"} · characters ${c.start}–${c.end}`),
        el("p", { class: "chunk-text" }, c.text))));
    view.scrollIntoView({ block: "start" });
  } catch (error) { showError(view, error); }
}

function upload(form, onProgress) {
  // XMLHttpRequest, not fetch: only it reports upload progress.
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/v1/documents");
    for (const [name, value] of Object.entries(headers())) request.setRequestHeader(name, value);
    request.upload.onprogress = (event) => event.lengthComputable && onProgress(100 * event.loaded / event.total);
    request.onload = () => {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch { /* empty */ }
      if (request.status === 202) resolve(body);
      else reject(new ApiError(request.status, `${request.status}: ${body.detail || request.statusText}`));
    };
    request.onerror = () => reject(new Error("the upload did not reach the server"));
    request.send(form);
  });
}

async function waitForJob(statusUrl) {
  for (;;) {
    const job = await api(statusUrl);
    if (job.status === "succeeded" || job.status === "failed") return job;
    await new Promise((r) => setTimeout(r, 700));
  }
}

$("#upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const out = $("#upload-result");
  const progress = $("#upload-progress");
  const form = new FormData();
  for (const file of $("#upload-files").files) form.append("files", file, file.name);
  form.append("collection", $("#upload-collection").value.trim());
  progress.hidden = false; progress.value = 0;
  fill(out, el("p", { class: "muted" }, "Uploading…"));
  try {
    const accepted = await upload(form, (pct) => { progress.value = pct; });
    const rows = [...accepted.files.map((f) => [f, "ingesting…", ""]), ...accepted.rejected.map((r) => [r.file, "rejected", r.reason])];
    const table = () => el("table", { class: "table upload-table" }, el("caption", {}, "Upload"),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "File"), el("th", { scope: "col" }, "Result"), el("th", { scope: "col" }, "Reason"))),
      el("tbody", {}, rows.map(([f, s, r]) => el("tr", {}, el("td", {}, f), el("td", { class: s === "ingested" ? "ok" : s === "ingesting…" ? "" : "error" }, s), el("td", {}, r)))));
    fill(out, table());
    const job = await waitForJob(accepted.status_url);
    const failed = new Map((job.report?.failed || []).map((f) => [f.file, f.reason]));
    for (const row of rows) if (row[1] === "ingesting…") { row[1] = failed.has(row[0]) ? "failed" : "ingested"; row[2] = failed.get(row[0]) || ""; }
    if (job.status === "failed" && !job.report) for (const row of rows) if (row[1] === "ingested") { row[1] = "failed"; row[2] = job.error || ""; }
    fill(out, table());
    loadDocuments(); refreshStatus();
  } catch (error) { showError(out, error); }
  progress.hidden = true;
});

// ---- Meetings ----------------------------------------------------------------------------------
loaders.meetings = async () => {
  const list = $("#meetings-list");
  try {
    const found = await api("/v1/documents?kind=meeting&limit=1000");
    fill(list, ...found.documents.map((d) => el("li", {}, el("button", { type: "button", onclick: () => openMinutes(d) }, d.title || d.source),
      " ", el("span", { class: "muted" }, d.metadata?.date || ""))));
    if (!found.documents.length) fill(list, el("li", { class: "muted" }, "No meetings ingested."));
  } catch (error) { showError(list, error); }
};

async function openMinutes(meeting) {
  const view = $("#minutes-view");
  fill(view, el("p", { class: "muted" }, "Writing the minutes…"));
  try {
    const [minutes, turns] = await Promise.all([api(`/v1/meetings/${meeting.id}/minutes`), api(`/v1/meetings/${meeting.id}/turns`)]);
    const turnLinks = (indices) => indices.map((i) => el("a", { href: `#turn-${i}`, class: "cite", onclick: (e) => { e.preventDefault(); const t = document.getElementById(`turn-${i}`); t?.scrollIntoView({ block: "center" }); t?.focus(); } }, `turn ${i + 1}`));
    const section = (title, items, render) => items.length ? [el("h3", {}, title), el("ul", {}, items.map((item) => el("li", {}, render(item))))] : [];
    fill(view, 
      el("h2", {}, minutes.title),
      el("p", {}, minutes.summary, " ", turnLinks(minutes.summary_turns)),
      section("Decisions", minutes.decisions, (d) => [d.text, d.decided_by ? ` — ${d.decided_by}` : "", " ", turnLinks(d.turns)]),
      section("Action items", minutes.action_items, (a) => [el("strong", {}, a.owner || "unassigned"), `: ${a.task}`, a.due_date || a.due ? ` (due ${a.due_date || a.due})` : "", " ", turnLinks(a.turns)]),
      section("Open questions", minutes.open_questions, (q) => [q.text, q.asked_by ? ` — ${q.asked_by}` : "", " ", turnLinks(q.turns)]),
      el("h3", {}, "Transcript"),
      el("ol", { class: "turns" }, turns.map((t) => el("li", { id: `turn-${t.index}`, tabindex: "-1" }, el("strong", {}, t.speaker), ": ", t.text))));
  } catch (error) { showError(view, error); }
}

// ---- Graph -------------------------------------------------------------------------------------
let graph = null;
const hiddenTypes = new Set();
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
function colour(name) { let h = 0; for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0; return PALETTE[h % PALETTE.length]; }

function loadCytoscape() {
  if (window.cytoscape) return Promise.resolve();
  return new Promise((resolve, reject) => {
    document.head.append(el("script", { src: "/static/vendor/cytoscape/cytoscape.min.js", onload: resolve, onerror: () => reject(new Error("the graph library did not load")) }));
  });
}

async function ensureGraph() {
  await loadCytoscape();
  if (graph) return graph;
  graph = window.cytoscape({
    container: $("#graph-canvas"),
    style: [
      { selector: "node", style: { label: "data(label)", "background-color": "data(colour)", color: "#1b1f24", "font-size": 11, "text-valign": "bottom", "text-margin-y": 4, width: 22, height: 22 } },
      { selector: "node.seed", style: { width: 32, height: 32, "border-width": 3, "border-color": "#1b1f24" } },
      { selector: "edge", style: { width: 2, "line-color": "data(colour)", "target-arrow-color": "data(colour)", "target-arrow-shape": "triangle", "curve-style": "bezier", label: "data(label)", "font-size": 9, "text-rotation": "autorotate", color: "#5b6470" } },
      { selector: ":selected", style: { "overlay-opacity": 0.2 } },
    ],
    wheelSensitivity: 0.3,
  });
  graph.on("tap", "node", (event) => showEntity(event.target.id()));
  graph.on("tap", "edge", (event) => showEdge(event.target.data()));
  return graph;
}

function addNode(cy, id, name, type) {
  const full = name || id;
  const label = full.length > 32 ? `${full.slice(0, 30)}…` : full;  // the canvas stays legible; the list has the full name
  if (!cy.getElementById(id).length) cy.add({ group: "nodes", data: { id, label, name: full, type: type || "Entity", colour: colour(type || "Entity") } });
}

function applyTypeFilter() {
  if (!graph) return;
  graph.nodes().forEach((n) => n.style("display", hiddenTypes.has(n.data("type")) ? "none" : "element"));
  renderGraphList();
}

function renderTypeFilter() {
  const types = [...new Set(graph.nodes().map((n) => n.data("type")))].sort();
  fill($("#graph-types"), el("legend", {}, "Show entity types"), types.map((type) =>
    el("label", {}, el("input", { type: "checkbox", checked: !hiddenTypes.has(type), onchange: (e) => { e.target.checked ? hiddenTypes.delete(type) : hiddenTypes.add(type); applyTypeFilter(); } }),
      el("span", { style: `color:${colour(type)}` }, " ● "), type)));
}

// The same graph as a list: what the canvas shows, reachable by keyboard and screen readers.
function renderGraphList() {
  const shown = graph.nodes().filter((n) => n.style("display") !== "none");
  const edges = graph.edges().filter((e) => e.source().style("display") !== "none" && e.target().style("display") !== "none");
  fill($("#graph-list"), 
    el("h3", {}, `Entities shown (${shown.length})`),
    el("ul", { class: "plain chips graph-nodes" }, shown.map((n) => el("li", {}, el("button", { type: "button", class: "entity-chip",
      "aria-label": `Expand ${n.data("name")}`, onclick: () => showEntity(n.id()) }, `${n.data("name")} · ${n.data("type")}`)))),
    el("h3", {}, `Relationships shown (${edges.length})`),
    el("ul", { class: "graph-edges" }, edges.map((e) => el("li", {}, el("button", { type: "button", onclick: () => showEdge(e.data()) },
      `${e.source().data("name")} — ${e.data("label")} → ${e.target().data("name")}`)))));
}

async function showEntity(id) {
  const detail = $("#graph-detail");
  try {
    const cy = await ensureGraph();
    const entity = await api(`/v1/entities/${encodeURIComponent(id)}`);
    addNode(cy, entity.id, entity.name, entity.type);
    cy.getElementById(entity.id).addClass("seed");
    for (const edge of entity.edges) {
      addNode(cy, edge.other_id, edge.other_name, edge.other_labels.find((l) => l !== "Entity") || edge.other_labels[0]);
      // One drawn edge per relationship; each chunk that states it adds its evidence.
      const edgeId = `${edge.source_id}|${edge.type}|${edge.target_id}`;
      const found = cy.getElementById(edgeId);
      const evidence = { text: edge.evidence, chunk_id: edge.chunk_id, document_id: edge.document_id };
      if (!found.length) {
        cy.add({ group: "edges", data: { id: edgeId, source: edge.source_id, target: edge.target_id, label: edge.type, colour: colour(edge.type), evidence: [evidence] } });
      } else if (!found.data("evidence").some((e) => e.chunk_id === edge.chunk_id)) {
        found.data("evidence", [...found.data("evidence"), evidence]);
      }
    }
    cy.layout({ name: "cose", animate: false, randomize: false, nodeRepulsion: 9000, idealEdgeLength: 90 }).run();
    renderTypeFilter(); applyTypeFilter();
    fill(detail, 
      el("h3", {}, entity.name), el("p", { class: "muted" }, `${entity.type} · ${entity.mentions} mentions · ${entity.edges.length} relationships · ${entity.document_ids.length} documents`),
      el("p", {}, "Select a neighbour to expand it, or a relationship to read its evidence."),
      el("h4", {}, "Documents"),
      el("ul", { class: "entity-documents" }, await Promise.all(entity.document_ids.slice(0, 20).map(async (d) => {
        const name = await api(`/v1/documents/${encodeURIComponent(d)}`).then((doc) => doc.title || doc.source, () => d);
        return el("li", {}, el("button", { type: "button", onclick: () => { showView("documents"); openDocument(d); } }, name));
      }))));
  } catch (error) { showError(detail, error); }
}

function showEdge(data) {
  const source = graph.getElementById(data.source).data("name"), target = graph.getElementById(data.target).data("name");
  fill($("#graph-detail"),
    el("h3", {}, `${source} — ${data.label} → ${target}`),
    data.evidence.map((e) => el("div", { class: "evidence-item" },
      e.text ? el("blockquote", { class: "evidence" }, e.text) : el("p", { class: "muted" }, "No evidence sentence stored."),
      e.chunk_id ? el("button", { type: "button", onclick: () => openChunk(e.chunk_id, null) }, "Open the passage") : null,
      e.document_id ? el("button", { type: "button", onclick: () => { showView("documents"); openDocument(e.document_id); } }, "Open the document") : null)));
}

$("#graph-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const list = $("#graph-matches");
  try {
    const found = await api(`/v1/entities?q=${encodeURIComponent($("#graph-input").value.trim())}&limit=20`);
    fill(list, ...found.map((e) => el("li", {}, el("button", { type: "button", class: "entity-chip", onclick: () => showEntity(e.id) }, `${e.name} · ${e.type} (${e.degree})`))));
    if (!found.length) fill(list, el("li", { class: "muted" }, "No entity by that name."));
  } catch (error) { showError(list, error); }
});

// ---- Admin -------------------------------------------------------------------------------------
function metricValue(text, name, labels = "") {
  let total = 0, seen = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || !line.startsWith(name)) continue;
    const [series, value] = line.split(/\s+(?=[^\s]+$)/);
    if ((series === name || series.startsWith(`${name}{`)) && series.includes(labels)) { total += Number(value); seen = true; }
  }
  return seen ? total : null;
}

loaders.admin = async () => {
  const metrics = $("#admin-metrics");
  try {
    const text = await api("/metrics");
    const rows = [["Documents", metricValue(text, "lore_documents")], ["Passages in the index", metricValue(text, "lore_index_vectors")],
      ["HTTP requests", metricValue(text, "lore_http_requests_total")], ["Server errors (5xx)", metricValue(text, "lore_http_requests_total", 'status="5')],
      ["Upload jobs succeeded", metricValue(text, "lore_ingest_jobs_total", 'status="succeeded"')], ["Upload jobs failed", metricValue(text, "lore_ingest_jobs_total", 'status="failed"')],
      ["Chunks written by uploads", metricValue(text, "lore_ingest_chunks_total")]];
    fill(metrics, ...rows.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value === null ? "0" : String(value))]));
  } catch (error) { showError(metrics, error); }
  loadKeys(); loadJobs();
};

async function loadKeys() {
  const tbody = $("#keys-table tbody");
  try {
    const keys = await api("/v1/keys");
    fill(tbody, ...keys.map((k) => el("tr", {}, el("td", {}, k.name), el("td", {}, k.id), el("td", {}, k.scopes.join(", ")),
      el("td", {}, k.collections ? k.collections.join(", ") : "all"), el("td", {}, when(k.created_at)), el("td", {}, when(k.revoked_at)),
      el("td", {}, k.revoked_at ? "" : el("button", { type: "button", "aria-label": `Revoke key ${k.name}`, onclick: () => revokeKey(k) }, "Revoke")))));
  } catch (error) { fill(tbody, el("tr", {}, el("td", { colspan: 7, class: "error" }, error.message))); }
}

async function revokeKey(key) {
  if (!confirm(`Revoke the key “${key.name}”? Requests with it fail from now on.`)) return;
  try { await api(`/v1/keys/${key.id}`, { method: "DELETE" }); loadKeys(); } catch (error) { showError($("#key-secret"), error); }
}

$("#key-create").addEventListener("submit", async (event) => {
  event.preventDefault();
  const scopes = [...document.querySelectorAll("#key-create input[name=scope]:checked")].map((i) => i.value);
  const collections = listOf($("#new-key-collections").value);
  try {
    const created = await api("/v1/keys", { method: "POST", body: { name: $("#new-key-name").value.trim(), scopes, collections: collections.length ? collections : null } });
    fill($("#key-secret"), el("p", { class: "ok" }, "Key created. Copy it now: it is not shown again."), el("code", { class: "secret" }, created.secret));
    loadKeys();
  } catch (error) { showError($("#key-secret"), error); }
});

async function loadJobs() {
  const tbody = $("#jobs-table tbody");
  try {
    const { jobs } = await api("/v1/jobs?limit=50");
    fill(tbody, ...jobs.map((j) => el("tr", {}, el("td", {}, j.id), el("td", { class: j.status === "failed" ? "error" : "" }, j.status),
      el("td", {}, j.collection), el("td", {}, j.files.join(", ")), el("td", {}, when(j.created_at)),
      el("td", {}, j.report ? `${j.report.added} added, ${j.report.updated} updated, ${j.report.failed.length} failed` : j.error || ""))));
  } catch (error) { fill(tbody, el("tr", {}, el("td", { colspan: 6, class: "error" }, error.message))); }
}

// ---- start -------------------------------------------------------------------------------------
refreshStatus();
setInterval(refreshStatus, 30000);
const VIEWS = ["ask", "search", "documents", "meetings", "graph", "admin"];
showView(VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : "ask");

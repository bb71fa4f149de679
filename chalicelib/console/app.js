// Terraless's web console: one page, no build step, nothing loaded from elsewhere. It reads
// and drives the same public APIs the CLIs use, with the user's token kept in this browser
// session only (sessionStorage: gone when the tab closes, cleared by Sign out).
"use strict";

const TOKEN_KEY = "terraless.token";
const view = document.getElementById("view");
const crumbs = document.getElementById("crumbs");
let timers = [];          // the current page's pollers, stopped when the page changes

// -- small helpers ----------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}
const enc = encodeURIComponent;
const when = (iso) => iso ? new Date(iso).toLocaleString() : "—";   // the viewer's time zone
function every(ms, fn) { const id = setInterval(fn, ms); timers.push(id); return id; }
function stopTimers() { timers.forEach(clearInterval); timers = []; }

const STATUS_KIND = {
  applied: "ok", planned_and_finished: "ok", completed: "ok", successful: "ok", noChanges: "ok",
  errored: "bad", failed: "bad", critical: "bad", force_canceled: "bad", canceled: "bad", rejected: "bad",
  planned: "wait", pending: "wait", waitingApproval: "wait", policy_checked: "wait", cost_estimated: "wait",
  planning: "run", applying: "run", plan_queued: "run", apply_queued: "run", queuing: "run", running: "run",
  fetching: "run", confirmed: "run",
};
const badge = (status) => h("span", {class: `status ${STATUS_KIND[status] || ""}`, "data-status": status}, status || "—");

// -- the API ----------------------------------------------------------------------------------
class SignedOut extends Error {}

async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) throw new SignedOut("sign in first");
  const headers = {Authorization: `Bearer ${token}`, ...(options.headers || {})};
  if (options.body !== undefined && typeof options.body !== "string") {
    options = {...options, body: JSON.stringify(options.body)};
    headers["Content-Type"] = "application/vnd.api+json";
  }
  const response = await fetch(path, {...options, headers});
  if (response.status === 401) {
    signOut("Your token was refused (expired or revoked): sign in again.");
    throw new SignedOut("token refused");
  }
  const text = await response.text();
  const body = text && text[0] === "{" ? JSON.parse(text) : text;
  if (!response.ok) {
    const detail = body && body.errors ? body.errors.map((e) => e.detail || e.title).join("; ")
      : body && body.error ? body.error.message : `HTTP ${response.status}`;
    throw new Error(detail);
  }
  return body;
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.setItem("terraless.notice", message || "Signed out.");
  if (location.hash === "#/signin") route();      // no hashchange: draw the sign-in again
  else location.hash = "#/signin";
}

function showError(error) {
  if (error instanceof SignedOut) return;
  view.append(h("div", {class: "error", role: "alert"}, error.message || String(error)));
}

function setCrumbs(...links) {
  crumbs.replaceChildren(...links.map(([label, href]) => href ? h("a", {href}, label) : h("span", {}, label)));
}

function page(title, ...content) {
  view.replaceChildren(h("h1", {}, title), ...content.filter((c) => c !== null && c !== undefined));
  view.focus({preventScroll: true});
}

function table(headers, rows, empty) {
  if (!rows.length) return h("div", {class: "empty"}, empty);
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
           h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))));
}

function pager(meta, go) {
  const p = meta && meta.pagination;
  if (!p || p["total-pages"] <= 1) return null;
  return h("div", {class: "pager"},
    h("button", {class: "secondary", disabled: !p["prev-page"], onclick: () => go(p["prev-page"])}, "Previous"),
    h("span", {class: "muted"}, `page ${p["current-page"]} of ${p["total-pages"]}`),
    h("button", {class: "secondary", disabled: !p["next-page"], onclick: () => go(p["next-page"])}, "Next"));
}

// -- pages ------------------------------------------------------------------------------------
function signIn() {
  setCrumbs();
  const notice = sessionStorage.getItem("terraless.notice");
  sessionStorage.removeItem("terraless.notice");
  const input = h("input", {id: "token", type: "password", autocomplete: "off", required: true,
                            "aria-label": "API token"});
  const form = h("form", {class: "signin", onsubmit: async (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    try {
      await api("/api/v2/account/details");
      location.hash = "#/";
    } catch (error) { if (!(error instanceof SignedOut)) form.append(h("div", {class: "error"}, error.message)); }
  }}, h("h1", {}, "Sign in"),
     notice ? h("p", {class: "muted", role: "status"}, notice) : null,
     h("label", {for: "token"}, "A user token (kept in this tab only)"), input,
     h("button", {type: "submit"}, "Sign in"));
  view.replaceChildren(form);
  input.focus();
}

async function organizations() {
  setCrumbs(["Organizations"]);
  const orgs = await api("/api/v2/organizations?page[size]=100");
  page("Organizations", table(["Name", "Email", "Created"], orgs.data.map((o) => [
    h("a", {href: `#/orgs/${enc(o.id)}`}, o.attributes.name), o.attributes.email, when(o.attributes["created-at"])]),
    "No organization yet: create one through the API."),
    h("p", {}, h("a", {href: "#/tasks"}, "Consul-Terraform-Sync tasks")));
}

async function workspaces(org, query) {
  setCrumbs(["Organizations", "#/"], [org]);
  const number = Number(query.get("page") || 1), search = query.get("search") || "";
  const found = await api(`/api/v2/organizations/${enc(org)}/workspaces?page[number]=${number}&page[size]=20` +
                          `&include=current_run${search ? `&search[name]=${enc(search)}` : ""}`);
  const runs = Object.fromEntries((found.included || []).filter((x) => x.type === "runs").map((r) => [r.id, r]));
  const box = h("input", {type: "search", value: search, placeholder: "search names", "aria-label": "search workspaces"});
  const form = h("form", {class: "inline", onsubmit: (e) => { e.preventDefault(); location.hash = `#/orgs/${enc(org)}?search=${enc(box.value)}`; }},
                 box, h("button", {type: "submit"}, "Search"));
  page(`Workspaces of ${org}`, form, table(["Workspace", "Lock", "Current run", "Latest state"], found.data.map((w) => {
    const runRef = w.relationships["current-run"].data, run = runRef && runs[runRef.id];
    const sv = w.relationships["current-state-version"].data;
    return [h("a", {href: `#/workspaces/${enc(w.id)}`}, w.attributes.name),
            w.attributes.locked ? "🔒 locked" : "unlocked",
            run ? h("span", {}, badge(run.attributes.status), " ", h("a", {href: `#/runs/${enc(run.id)}`}, run.id)) : "—",
            sv ? h("a", {href: `#/workspaces/${enc(w.id)}/states`}, sv.id) : "—"];
  }), search ? "No workspace matches." : "No workspace yet."),
  pager(found.meta, (n) => { location.hash = `#/orgs/${enc(org)}?page=${n}${search ? `&search=${enc(search)}` : ""}`; }));
}

async function workspaceHeader(id, tab) {
  const ws = (await api(`/api/v2/workspaces/${enc(id)}`)).data;
  const org = ws.relationships.organization.data.id;
  setCrumbs(["Organizations", "#/"], [org, `#/orgs/${enc(org)}`], [ws.attributes.name]);
  const tabs = [["runs", "Runs"], ["states", "State versions"], ["variables", "Variables"], ["jobs", "Terrakube jobs"]];
  return [ws, h("p", {class: "muted"}, `${ws.attributes["execution-mode"]} execution · ${ws.attributes.locked ? "locked" : "unlocked"} · terraform ${ws.attributes["terraform-version"]}`),
          h("nav", {class: "tabs"}, tabs.map(([key, label]) =>
            h("a", {href: `#/workspaces/${enc(id)}/${key}`, "aria-current": key === tab ? "page" : null}, label)))];
}

async function workspaceRuns(id, query) {
  const number = Number(query.get("page") || 1);
  const [ws, ...head] = await workspaceHeader(id, "runs");
  const runs = await api(`/api/v2/workspaces/${enc(id)}/runs?page[number]=${number}&page[size]=20`);
  page(ws.attributes.name, ...head, table(["Run", "Status", "Started", "By", "Message"], runs.data.map((r) => [
    h("a", {href: `#/runs/${enc(r.id)}`}, r.id), badge(r.attributes.status), when(r.attributes["created-at"]),
    `${(r.relationships["created-by"] && r.relationships["created-by"].data || {}).id || "—"} (${r.attributes.source})`,
    r.attributes.message]), "No run yet."),
    pager(runs.meta, (n) => { location.hash = `#/workspaces/${enc(id)}/runs?page=${n}`; }));
}

async function workspaceStates(id) {
  const [ws, ...head] = await workspaceHeader(id, "states");
  const versions = await api(`/api/v2/workspaces/${enc(id)}/state-versions?page[size]=20`);
  const outputs = h("div", {id: "outputs"});
  page(ws.attributes.name, ...head, table(["State version", "Serial", "Created", ""], versions.data.map((sv) => [
    sv.id, sv.attributes.serial, when(sv.attributes["created-at"]),
    h("button", {class: "secondary", onclick: async () => {
      const found = await api(`/api/v2/state-versions/${enc(sv.id)}/outputs`);
      outputs.replaceChildren(h("h2", {}, `Outputs of ${sv.id}`), table(["Name", "Value"], found.data.map((o) => [
        o.attributes.name, o.attributes.sensitive ? h("em", {class: "muted"}, "(sensitive)") : JSON.stringify(o.attributes.value)]),
        "No outputs."));
    }}, "Outputs")]), "No state yet."), outputs);
}

async function workspaceVariables(id) {
  const [ws, ...head] = await workspaceHeader(id, "variables");
  const vars = await api(`/api/v2/workspaces/${enc(id)}/vars`);
  page(ws.attributes.name, ...head, table(["Key", "Value", "Category"], vars.data.map((v) => [
    v.attributes.key, v.attributes.sensitive ? h("em", {class: "muted"}, "(sensitive)") : v.attributes.value,
    v.attributes.category]), "No variables."));
}

async function workspaceJobs(id) {
  const [ws, ...head] = await workspaceHeader(id, "jobs");
  const jobs = await api(`/api/v1/workspace/${enc(id)}/job?page[size]=20`);
  page(ws.attributes.name, ...head, table(["Job", "Status", "Created"], jobs.data.map((j) => [
    h("a", {href: `#/jobs/${enc(id)}/${enc(j.id)}`}, j.id), badge(j.attributes.status), when(j.attributes.createdDate)]),
    "No Terrakube job."));
}

async function job(wsId, jobId) {
  const load = () => api(`/api/v1/workspace/${enc(wsId)}/job/${enc(jobId)}`);
  const draw = async (found) => {
    const a = found.data.attributes;
    setCrumbs(["Organizations", "#/"], ["workspace", `#/workspaces/${enc(wsId)}/jobs`], [jobId]);
    const answer = (status) => async () => {
      try { await api(`/api/v1/workspace/${enc(wsId)}/job/${enc(jobId)}`, {method: "PATCH",
        body: {data: {type: "job", attributes: {status}}}}); draw(await load()); } catch (e) { showError(e); }
    };
    page(`Job ${jobId}`, h("p", {}, "Status: ", badge(a.status)),
      a.status === "waitingApproval" ? h("div", {class: "actions"},
        h("button", {onclick: answer("approved")}, "Approve"),
        h("button", {class: "danger", onclick: answer("rejected")}, "Reject")) : null,
      ...(a.steps || []).map((s) => h("section", {}, h("h2", {}, `Step ${s.stepNumber} · ${s.name} `, badge(s.status)),
        h("pre", {class: "log"}, s.output || ""))));
  };
  let shown = await load();
  await draw(shown);
  every(1500, async () => {
    try {
      const found = await load();
      if (JSON.stringify(found.data.attributes) !== JSON.stringify(shown.data.attributes)) { shown = found; draw(found); }
    } catch (e) { /* the next tick tries again */ }
  });
}

// -- a run: timeline, counts, live log, actions ---------------------------------------------------
class LogTail {
  // reads a phase's log by offset, as the CLIs do, and appends what is new
  constructor(url, pre) { this.path = new URL(url, location.href); this.pre = pre; this.offset = 0; this.done = false;
                          this.decoder = new TextDecoder(); }
  async poll() {
    if (this.done || this.busy) return;
    this.busy = true;
    try {
      const url = `${this.path.pathname}?offset=${this.offset}&limit=65536`;
      const response = await fetch(url);
      if (!response.ok) return;
      const bytes = new Uint8Array(await response.arrayBuffer());
      this.offset += bytes.length;
      let text = this.decoder.decode(bytes, {stream: true});
      if (text.includes("\u0003")) this.done = true;
      text = text.replace(/[\u0002\u0003]/g, "");
      if (text) {
        const follow = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 8;
        this.pre.append(text);
        if (follow) this.pre.scrollTop = this.pre.scrollHeight;
      }
    } finally { this.busy = false; }
  }
}

const TIMELINE = ["plan-queueable-at", "plan-queued-at", "planning-at", "planned-at", "planned-and-finished-at",
                  "confirmed-at", "apply-queued-at", "applying-at", "applied-at", "discarded-at",
                  "canceled-at", "force-canceled-at", "errored-at"];

async function run(id) {
  const logs = {};
  const sections = h("div", {});
  const head = h("div", {});
  const load = () => api(`/api/v2/runs/${enc(id)}?include=plan,apply`);
  const draw = (found) => {
    const r = found.data, a = r.attributes;
    const inc = Object.fromEntries((found.included || []).map((x) => [x.type, x]));
    const wsId = r.relationships.workspace.data.id;
    setCrumbs(["Organizations", "#/"], ["workspace", `#/workspaces/${enc(wsId)}/runs`], [id]);
    const stamps = a["status-timestamps"] || {};
    const plan = inc.plans, apply = inc.applies;
    const counts = (p) => p ? h("p", {class: "counts"}, h("span", {class: "add"}, `+${p.attributes["resource-additions"]}`),
      h("span", {class: "change"}, `~${p.attributes["resource-changes"]}`),
      h("span", {class: "destroy"}, `−${p.attributes["resource-destructions"]}`)) : null;
    const by = (r.relationships["created-by"] && r.relationships["created-by"].data || {}).id;
    head.replaceChildren(...[
      h("p", {}, "Status: ", badge(a.status), " ", h("span", {class: "muted"}, a.message || "")),
      h("p", {class: "muted"}, `started by ${by || "—"} through ${a.source || "the API"}`,
        a["is-destroy"] ? " · destroy" : "", a["plan-only"] ? " · plan only" : ""),
      h("ol", {class: "timeline", "aria-label": "timeline"}, TIMELINE.filter((k) => stamps[k]).map((k) =>
        h("li", {}, h("strong", {}, k.replace(/-at$/, "").replace(/-/g, " ")), " ", when(stamps[k])))),
      counts(plan), actions(r, draw, load)].filter(Boolean));
    for (const [name, phase] of [["Plan", plan], ["Apply", apply]]) {
      if (!phase || !phase.attributes["log-read-url"] || logs[name]) continue;
      if (name === "Apply" && ["unreachable", "pending"].includes(phase.attributes.status)) continue;
      const pre = h("pre", {class: "log", "aria-live": "polite", "data-phase": name.toLowerCase()});
      sections.append(h("h2", {}, `${name} log`), pre);
      logs[name] = new LogTail(phase.attributes["log-read-url"], pre);
    }
  };
  draw(await load());
  page(`Run ${id}`, head, sections);
  const tick = async () => { for (const tail of Object.values(logs)) await tail.poll(); };
  await tick();
  every(500, tick);
  every(1000, async () => { try { draw(await load()); } catch (e) { /* the next tick tries again */ } });
}

function actions(r, draw, load) {
  const a = r.attributes, can = a.actions || {}, perms = a.permissions || {};
  const box = h("div", {class: "actions"});
  const act = (name, body) => async () => {
    try {
      await api(`/api/v2/runs/${enc(r.id)}/actions/${name}`, {method: "POST", body: body || {}});
      draw(await load());
    } catch (e) { showError(e); }
  };
  if (can["is-confirmable"] && perms["can-apply"] !== false) {
    const comment = h("input", {type: "text", placeholder: "comment (optional)", "aria-label": "apply comment"});
    box.append(comment, h("button", {onclick: () => act("apply", {comment: comment.value})()}, "Apply"));
  }
  if (can["is-discardable"] && perms["can-discard"] !== false) box.append(h("button", {class: "secondary", onclick: act("discard")}, "Discard"));
  if (can["is-cancelable"] && perms["can-cancel"] !== false) box.append(h("button", {class: "secondary", onclick: act("cancel")}, "Cancel"));
  if (can["is-force-cancelable"] && perms["can-force-cancel"] !== false) {
    box.append(h("button", {class: "danger", onclick: act("force-cancel")}, "Force cancel"));
  } else if (a["force-cancel-available-at"] && ["planning", "applying"].includes(a.status)) {
    box.append(h("span", {class: "muted"}, `force cancel from ${when(a["force-cancel-available-at"])}`));
  }
  return box.childNodes.length ? box : null;
}

// -- Consul-Terraform-Sync ----------------------------------------------------------------------
async function tasks() {
  setCrumbs(["Organizations", "#/"], ["CTS tasks"]);
  const status = await api("/v1/status/tasks");
  const entries = Object.values(status).filter((x) => x && x.task_name);
  page("Consul-Terraform-Sync tasks", table(["Task", "Health", "Enabled", ""], entries.map((t) => [
    h("a", {href: `#/tasks/${enc(t.task_name)}`}, t.task_name), badge(t.status), t.enabled ? "enabled" : "disabled",
    h("button", {class: "secondary", "data-toggle": t.task_name, onclick: async () => {
      try { await api(`/v1/tasks/${enc(t.task_name)}`, {method: "PATCH", body: {enabled: !t.enabled}}); tasks(); }
      catch (e) { showError(e); }
    }}, t.enabled ? "Disable" : "Enable")]), "No task."));
}

async function task(name) {
  setCrumbs(["Organizations", "#/"], ["CTS tasks", "#/tasks"], [name]);
  const status = (await api(`/v1/status/tasks/${enc(name)}?include=events`))[name];
  page(`Task ${name}`, h("p", {}, "Health: ", badge(status.status), ` · ${status.enabled ? "enabled" : "disabled"}`),
    h("h2", {}, "Latest events"), table(["Started", "Ended", "Result", "Run"], (status.events || []).map((e) => [
      when(e.start_time), when(e.end_time), e.success ? badge("successful") : h("span", {}, badge("errored"), " ", (e.error || {}).message || ""),
      e.run_id ? h("a", {href: `#/runs/${enc(e.run_id)}`}, e.run_id) : "—"]), "No event yet."));
}

// -- the router -------------------------------------------------------------------------------------
async function route() {
  stopTimers();
  const [path, search] = (location.hash.slice(1) || "/").split("?");
  const query = new URLSearchParams(search || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const signedIn = !!sessionStorage.getItem(TOKEN_KEY);
  document.getElementById("signout").hidden = !signedIn;
  if (!signedIn || parts[0] === "signin") return signIn();
  try {
    if (!parts.length) return await organizations();
    if (parts[0] === "orgs") return await workspaces(parts[1], query);
    if (parts[0] === "workspaces") {
      const tab = parts[2] || "runs";
      if (tab === "states") return await workspaceStates(parts[1]);
      if (tab === "variables") return await workspaceVariables(parts[1]);
      if (tab === "jobs") return await workspaceJobs(parts[1]);
      return await workspaceRuns(parts[1], query);
    }
    if (parts[0] === "runs") return await run(parts[1]);
    if (parts[0] === "jobs") return await job(parts[1], parts[2]);
    if (parts[0] === "tasks") return parts[1] ? await task(parts[1]) : await tasks();
    page("Not found", h("p", {}, h("a", {href: "#/"}, "Back to the organizations")));
  } catch (error) {
    if (error instanceof SignedOut) return;
    view.replaceChildren(h("h1", {}, "Something went wrong"));
    showError(error);
  }
}

document.getElementById("signout").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("hashchange", route);
route();

// The web console: four pages of one document, kept up to date by the
// events stream.  Nothing here is fetched from elsewhere.
import * as api from './api.js';

const $ = (sel) => document.querySelector(sel);
const PAGES = ['vms', 'platforms', 'dms', 'events'];
let lastEvent = 0;
const progressTimers = new Map();

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'onclick') e.addEventListener('click', v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    e.append(c instanceof Node ? c : document.createTextNode(c ?? ''));
  }
  return e;
}

function showError(err) {
  const p = $('#error');
  p.textContent = err ? String(err.message || err) : '';
  p.hidden = !err;
}

function fillTable(sel, rows) {
  const tbody = $(sel + ' tbody');
  tbody.replaceChildren(...rows);
}

// --- pages ---

function showPage() {
  const page = PAGES.includes(location.hash.slice(1)) ?
    location.hash.slice(1) : 'vms';
  for (const p of PAGES) {
    $('#page-' + p).hidden = p !== page;
    const a = document.querySelector(`nav a[href="#${p}"]`);
    if (p === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function refreshPlatforms() {
  const { platforms } = await api.get('platforms');
  fillTable('#platform-table', platforms.map((p) => el('tr', {},
    el('td', {}, p.name), el('td', {}, p.role), el('td', {}, p.address),
    el('td', {}, `${p.running} / ${p.capacity}`),
    el('td', {}, (p.models || []).join(', ')),
    el('td', {}, p.model_tls ? 'yes' : 'no'))));
  return platforms;
}

async function refreshDms() {
  const { dms } = await api.get('dms');
  dms.sort((a, b) => (a.server || '').localeCompare(b.server || ''));
  fillTable('#dm-table', dms.map((d) => el('tr', {},
    el('td', {}, d.server), el('td', {}, d.vm), el('td', {}, d.device),
    el('td', {}, d.model), el('td', {}, d.state),
    el('td', {}, d.route ? `${d.address} via ${d.via}` : d.address),
    el('td', {}, d.tls ? 'yes' : 'no'), el('td', {}, String(d.restarts)))));
}

function deviceList(vm) {
  const ul = el('ul');
  for (const d of vm.devices || []) {
    ul.append(el('li', {}, `${d.name}: ${d.model}` +
      (d.placed_on ? ` on ${d.placed_on}` : '') +
      (d.via ? ` via ${d.via}` : '')));
  }
  return ul;
}

const ACTIONS = {
  defined: ['start', 'remove'],
  stopped: ['start', 'remove'],
  running: ['stop', 'suspend', 'migrate', 'save', 'console', 'screen'],
  suspended: ['resume', 'stop', 'migrate', 'save', 'screen'],
  saved: ['restore', 'stop'],
};

// How far a migration (or a save, a restore) has gone, in %, or null:
// the RAM it has been through, total less remaining, as QEMU's own
// figures say (query-migrate).  Not "transferred": those are the bytes
// sent, which a guest's zero pages hardly add to, so that a real guest's
// migration ends far below its total.
function migrationPct(m) {
  if (m.status === 'completed') return 100;
  if (!m.total) return null;
  const left = m.remaining ?? m.total - (m.transferred ?? 0);
  return Math.max(0, Math.min(100,
    Math.round(100 * (m.total - left) / m.total)));
}

function progressBar(label, pct) {
  return [el('progress', { max: '100', value: String(pct),
    'aria-label': `${label}: ${pct} %` }), ` ${pct} %`];
}

function stateCell(vm) {
  const td = el('td', { class: 'state-' + vm.state }, vm.state);
  const pct = vm.migration ? migrationPct(vm.migration) : null;
  if (pct !== null) {
    td.append(' ', ...progressBar(`${vm.state} ${vm.name}`, pct));
  }
  return td;
}

async function refreshVms() {
  const { vms } = await api.get('vms');
  fillTable('#vm-table', vms.map((vm) => {
    const acts = el('td');
    for (const a of ACTIONS[vm.state] || []) {
      if (a === 'screen' && !vm.vnc) continue;   // no display placed
      acts.append(el('button', { type: 'button', 'data-action': a,
        'data-vm': vm.name, 'aria-label': `${a} ${vm.name}`,
        onclick: () => act(a, vm) }, a));
    }
    return el('tr', { 'data-vm': vm.name }, el('td', {}, vm.name),
      stateCell(vm), el('td', {}, vm.client ?? ''),
      el('td', {}, vm.hypervisor ?? ''), el('td', {}, deviceList(vm)),
      acts);
  }));
  return vms;
}

async function refreshAll() {
  try {
    await Promise.all([refreshVms(), refreshPlatforms(), refreshDms()]);
  } catch (e) {
    showError(e);
  }
}

// --- actions ---

async function clientChoice(vm, what) {
  const clients = (await api.get('platforms')).platforms
    .filter((p) => p.role === 'client' && p.name !== vm.client)
    .map((p) => p.name);
  const to = prompt(`${what} ${vm.name} to which client platform? ` +
                    `(${clients.join(', ')})`, clients[0] || '');
  return to === null ? null : to.trim();
}

// A long action's progress, above the tables: as it moves, then how it
// ended (the orchestrator's answer holds the last figures).
function showProgress(action, name, m) {
  const p = $('#action-status');
  const where = action === 'restore' ? 'on' : 'to';
  const label = `${action} ${name} ${where} ${m.to}: ${m.status}`;
  const pct = migrationPct(m);
  p.replaceChildren(label);
  if (pct !== null) p.append(' ', ...progressBar(label, pct));
  p.hidden = false;
}

// While a long action runs, show the VM's migration status as it moves,
// in its row and above the tables.
function followProgress(action, name) {
  const t = setInterval(async () => {
    try {
      const vm = (await refreshVms()).find((v) => v.name === name);
      // An answer that comes after the action's end is stale.
      if (progressTimers.get(name) === t && vm && vm.migration) {
        showProgress(action, name, vm.migration);
      }
    } catch (e) {
      // the next poll, or the action's own answer, says more
    }
  }, 500);
  progressTimers.set(name, t);
}

function stopProgress(name) {
  clearInterval(progressTimers.get(name));
  progressTimers.delete(name);
}

async function act(action, vm) {
  let body;
  if (action === 'console') {
    return openConsole(vm);
  }
  if (action === 'screen') {
    return openScreen(vm);
  }
  if (action === 'migrate' || action === 'restore') {
    const to = await clientChoice(vm, action === 'migrate' ?
                                  'Migrate' : 'Restore');
    if (to === null) return;
    body = action === 'migrate' ? { to } : (to ? { client: to } : {});
  } else if (!confirm(`${action} VM ${vm.name}?`)) {
    return;
  }
  showError(null);
  const slow = ['migrate', 'save', 'restore'].includes(action);
  if (slow) {
    $('#action-status').hidden = true;
    followProgress(action, vm.name);
  }
  try {
    let done;
    if (action === 'remove') done = await api.call('DELETE', 'vms/' + vm.name);
    else done = await api.post(`vms/${vm.name}/${action}`, body);
    if (slow) {
      stopProgress(vm.name);
      if (done && done.migration) {
        showProgress(action, vm.name, done.migration);
      }
    }
  } catch (e) {
    if (slow) $('#action-status').hidden = true;
    showError(e);
  } finally {
    if (slow) stopProgress(vm.name);
    await refreshAll();
  }
}

// The serial console: xterm.js (npm, vendor/) over a WebSocket that the
// orchestrator relays to the VM's remote UART.  Loaded on first use.
let consoleWs = null;
let consoleVm = null;
let term = null;

// A UART's console takes one client at a time: the connection we drop
// must be gone (its close seen, at most 2 s) before we make the next.
function closeConsole() {
  const ws = consoleWs;
  consoleWs = null;
  consoleVm = null;
  if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 2000);
    ws.addEventListener('close', () => { clearTimeout(timer); resolve(); });
    ws.close();
  });
}

async function openConsole(vm) {
  showError(null);
  try {
    const c = await api.get(`vms/${vm.name}/console`);
    const { Terminal } = await import('../vendor/xterm/xterm.mjs');
    $('#console-area').hidden = false;
    $('#console-info').textContent =
      `${vm.name}: device ${c.device} on server ${c.server}`;
    // This VM's console already open (a migration does not move it): the
    // same session, not a second client that the UART would refuse.
    if (consoleVm === vm.name && consoleWs &&
        consoleWs.readyState <= WebSocket.OPEN) {
      $('#console-area').scrollIntoView();
      term.focus();
      return;
    }
    await closeConsole();
    if (!term) {
      term = new Terminal({ convertEol: false, scrollback: 2000 });
      term.open($('#serial'));
      term.onData((d) => {
        if (consoleWs && consoleWs.readyState === WebSocket.OPEN) {
          consoleWs.send(new TextEncoder().encode(d));
        }
      });
      window.dmTerm = term;     // the browser tests read its buffer
    }
    term.reset();
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/v1/ws/console/` +
                             encodeURIComponent(vm.name));
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (m) => term.write(new Uint8Array(m.data));
    ws.onclose = () => { if (consoleWs === ws) term.write('\r\n[closed]\r\n'); };
    consoleWs = ws;
    consoleVm = vm.name;
    $('#console-area').scrollIntoView();
    term.focus();
  } catch (e) {
    showError(e);
  }
}

// The screen: noVNC's RFB (npm, vendor/novnc, its ES modules as they
// are) over /v1/ws/display/NAME.  The display's launcher did the VNC
// authentication: the page is offered "None" and never sees a password.
let rfb = null;

async function openScreen(vm) {
  showError(null);
  try {
    const { default: RFB } = await import('../vendor/novnc/core/rfb.js');
    const status = $('#screen-status');
    $('#console-area').hidden = false;
    $('#console-info').textContent = `${vm.name}: screen`;
    if (rfb) rfb.disconnect();
    const screen = $('#screen');
    screen.replaceChildren();
    screen.hidden = false;
    status.hidden = false;
    status.textContent = `${vm.name}: connecting to the screen…`;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const r = new RFB(screen, `${proto}//${location.host}/v1/ws/display/` +
                      encodeURIComponent(vm.name), { shared: true });
    r.scaleViewport = true;
    r.addEventListener('connect', () => {
      status.textContent = `${vm.name}: screen connected (click it to type)`;
    });
    r.addEventListener('disconnect', (e) => {
      if (rfb === r) {
        status.textContent = `${vm.name}: screen ` +
          (e.detail.clean ? 'closed' : 'lost');
      }
    });
    rfb = r;
    window.dmRfb = r;           // the browser tests watch its state
    $('#console-area').scrollIntoView();
  } catch (e) {
    showError(e);
  }
}

function parseDevices(text) {
  return text.split('\n').map((l) => l.trim()).filter((l) => l)
    .map((l) => {
      const m = /^([^=\s]+)=([^@\s]+)(?:@(\S+))?$/.exec(l);
      if (!m) throw new Error(`bad device line '${l}' (NAME=MODEL[@SERVER])`);
      const d = { name: m[1], model: m[2] };
      if (m[3]) d.server = m[3];
      return d;
    });
}

async function createVm(ev) {
  ev.preventDefault();
  const f = ev.target;
  showError(null);
  try {
    const body = { name: f.name.value.trim(), memory: f.memory.value.trim(),
                   devices: parseDevices(f.devices.value) };
    if (f.kernel.value.trim()) body.kernel = f.kernel.value.trim();
    if (!confirm(`Create VM ${body.name} with ${body.devices.length} ` +
                 'device(s)?')) return;
    await api.post('vms', body);
    f.reset();
    await refreshAll();
  } catch (e) {
    showError(e);
  }
}

// --- events ---

function addEvent(e) {
  lastEvent = Math.max(lastEvent, e.id);
  $('#event-log').append(el('li', { 'data-id': String(e.id) },
    `${e.time} ${e.vm}: ${e.message}`));
}

async function start() {
  window.addEventListener('hashchange', showPage);
  showPage();
  $('#vm-create').addEventListener('submit', createVm);
  try {
    const { events } = await api.get('events');
    events.forEach(addEvent);
  } catch (e) {
    showError(e);
  }
  await refreshAll();
  api.stream(lastEvent, (e) => {
    if (e.id <= lastEvent) return;
    addEvent(e);
    refreshAll();
  }, (up) => {
    $('#live').textContent = up ? 'live' : 'reconnecting…';
  });
}

start();

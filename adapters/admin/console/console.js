// autoreg console: plain JavaScript, no framework, nothing from elsewhere.
// Every read and every change goes through the registrar's /v1 API with the
// session cookie; changes carry the page's CSRF token. Nothing the server
// sends is ever parsed as HTML: the DOM is built with textContent.
'use strict';
(() => {
  const body = document.body;
  const page = body.dataset.page;
  const canWrite = body.dataset.scope === 'admin';
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
  const app = document.getElementById('app');
  const READ_ONLY = 'Read-only token: changes need a token with scope admin';

  // ---- DOM -----------------------------------------------------------------

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'value') el.value = v;
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }
  const card = (title, extra, ...kids) => h('section', { class: 'card' },
    h('header', null, h('h2', { text: title }), extra || null), ...kids);
  const badge = (cls, text, title) => h('span', { class: 'badge ' + cls, title }, text);
  const dash = (v) => (v === undefined || v === null || v === '' ? '—' : v);

  // A button that changes something: disabled, and saying why, for a read token.
  function changeButton(label, attrs) {
    const b = h('button', Object.assign({ type: 'submit' }, attrs || {}), label);
    if (!canWrite) { b.disabled = true; b.title = READ_ONLY; }
    return b;
  }

  // ---- Time ----------------------------------------------------------------

  let skew = 0; // server clock minus ours, from the Date header
  const now = () => Date.now() + skew;
  const pad = (n) => String(n).padStart(2, '0');
  function fmtTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function fmtDuration(sec) {
    sec = Math.max(0, Math.round(sec));
    const hh = Math.floor(sec / 3600), mm = Math.floor((sec % 3600) / 60), ss = sec % 60;
    return hh > 0 ? `${hh}:${pad(mm)}:${pad(ss)}` : `${mm}:${pad(ss)}`;
  }
  function fmtSpan(sec) {
    sec = Math.max(0, Math.round(sec));
    if (sec < 60) return `${sec} s`;
    if (sec < 3600) return `${Math.round(sec / 60)} min`;
    const hh = Math.floor(sec / 3600), mm = Math.round((sec % 3600) / 60);
    return mm ? `${hh} h ${mm} min` : `${hh} h`;
  }
  function ago(iso) {
    if (!iso) return '—';
    const s = (now() - Date.parse(iso)) / 1000;
    if (s < 5) return 'just now';
    if (s < 86400) return fmtSpan(s) + ' ago';
    return fmtTime(iso);
  }
  const when = (iso) => h('span', { title: fmtTime(iso), class: 'num' }, ago(iso));

  // ---- API -----------------------------------------------------------------

  class APIError extends Error {
    constructor(msg, code, status) { super(msg); this.code = code; this.status = status; }
  }
  async function api(method, path, payload) {
    const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET') opts.headers['X-CSRF-Token'] = csrf;
    if (payload !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(payload);
    }
    const r = await fetch(path, opts);
    const date = r.headers.get('Date');
    if (date) skew = Date.parse(date) - Date.now();
    if (r.status === 401) {
      location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search));
      throw new APIError('signed out', 'unauthorized', 401);
    }
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!r.ok) throw new APIError((data && data.error) || `${r.status} ${r.statusText}`, data && data.code, r.status);
    return data;
  }
  const q = (params) => {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== '' && v !== undefined && v !== null && v !== 0) u.set(k, v);
    const s = u.toString();
    return s ? '?' + s : '';
  };
  const seg = encodeURIComponent;

  // ---- Toasts --------------------------------------------------------------

  function toast(msg, detail, error) {
    const t = h('div', { class: 'toast' + (error ? ' error' : ''), role: error ? 'alert' : 'status' }, msg, detail ? h('small', null, detail) : null);
    document.getElementById('toasts').append(t);
    setTimeout(() => t.remove(), error ? 9000 : 5000);
  }
  const changed = (res, what) => {
    if (res && res.changed === false) toast('No change: it already was so.');
    else toast(what, res && res.events ? res.events.join(', ') : '');
  };

  // runs a change from a form: errors go in the form's callout and a toast.
  async function submit(form, fn) {
    const out = form.querySelector('.form-error');
    if (out) out.replaceChildren();
    const btns = [...form.querySelectorAll('button')];
    btns.forEach((b) => { b.dataset.was = b.disabled ? '1' : ''; b.disabled = true; });
    try {
      await fn();
    } catch (e) {
      if (e.status === 401) return;
      if (out) out.replaceChildren(h('p', { class: 'callout error', role: 'alert' }, e.message));
      toast(e.message, e.code, true);
    } finally {
      btns.forEach((b) => { b.disabled = b.dataset.was === '1'; });
    }
  }

  // ---- Live updates --------------------------------------------------------

  const live = document.getElementById('live');
  const liveText = document.getElementById('live-text');
  let refresh = async () => {};
  let pending = null;
  function schedule() {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      try { await refresh(); } catch (e) { if (e.status !== 401) console.warn(e); }
    }, 120);
  }
  function setLive(on, text) {
    live.classList.toggle('on', on);
    live.classList.toggle('off', !on);
    liveText.textContent = text;
  }
  function connect() {
    if (!window.EventSource) { setInterval(schedule, 3000); setLive(true, 'polling'); return; }
    const es = new EventSource('/v1/watch');
    let lastPos = -1;
    es.addEventListener('change', (ev) => {
      setLive(true, 'live');
      const pos = JSON.parse(ev.data).position;
      live.dataset.position = pos;
      if (lastPos >= 0 && pos !== lastPos) schedule();
      lastPos = pos;
    });
    es.addEventListener('error', () => {
      setLive(false, 'reconnecting…');
      api('GET', '/v1/status').catch(() => {}); // a session that ended goes to the sign-in
    });
  }

  // ---- Describing ----------------------------------------------------------

  function describeEvent(ev) {
    const d = ev.data || {};
    switch (ev.type) {
      case 'device.autoregistered': return [`Autoregistered in window ${d.window}: DN ${d.dn}, ${d.protocol} ${d.model}`, 'ok'];
      case 'device.provisioned': return [`Provisioned with DN ${d.dn} in pool ${d.pool}`, 'ok'];
      case 'device.registered': return [`Registered from ${d.address}`, 'ok'];
      case 'device.moved': return [`Moved from ${d.from} to ${d.to}`, ''];
      case 'device.unregistered': return [`Unregistered (${d.reason})`, ''];
      case 'device.registration_rejected': return [`Refused: ${d.reason}${d.detail ? ' — ' + d.detail : ''}`, 'bad'];
      case 'device.reconfigured': {
        const parts = [];
        if (d.pool) parts.push(`pool ${d.pool}`);
        if (d.css) parts.push(`CSS ${d.css}`);
        if (d.dn) parts.push(`DN ${d.dn}`);
        if (d.partition) parts.push(`partition ${d.partition}`);
        if (d.description) parts.push(`description “${d.description}”`);
        return [`Reconfigured: ${parts.join(', ') || 'no field'}`, ''];
      }
      case 'device.deleted': return ['Deleted; its DN is free again', 'bad'];
      case 'device.reset_requested': return [ev.data && ev.data.restart ? 'Restart requested' : 'Reset requested', ''];
      case 'device.credentials_issued': return [d.by === 'system' ? 'Digest credentials issued' : 'Digest credentials rotated', ''];
      case 'device.credentials_disabled': return ['Digest credentials disabled', 'bad'];
      default: return [ev.type, ''];
    }
  }

  // ---- Autoregistration page ----------------------------------------------

  const ADVICE = 'Autoregister a mixed batch in two windows, as the guide advises: with the protocol at SCCP, open a window, ' +
    'register the SCCP phones, close it; then switch to SIP, open a second window for the SIP phones, close it. ' +
    'Dual-protocol phones register only over the protocol set here; switching it inside an open window mixes the batch ' +
    '(compliance: protocol-mixed-batch).';

  function rangeSize(r) {
    const a = parseInt(r.start, 10), b = parseInt(r.end, 10);
    return Number.isFinite(a) && Number.isFinite(b) && b > a ? b - a + 1 : 0;
  }

  function stat(label, id) {
    const el = h('div', { class: 'card stat', id: 'stat-' + id },
      h('div', { class: 'label', text: label }), h('div', { class: 'value', id: id + '-value' }, '—'), h('div', { class: 'sub', id: id + '-sub' }));
    return el;
  }
  const setText = (id, text) => { const e = document.getElementById(id); if (e) e.textContent = text; };
  function setBar(id, fraction, cls) {
    const host = document.getElementById(id);
    if (!host) return;
    let bar = host.querySelector('.bar');
    if (!bar) { bar = h('div', { class: 'bar' }, h('span')); host.append(bar); }
    bar.className = 'bar ' + (cls || '');
    bar.firstChild.style.width = Math.max(0, Math.min(100, fraction * 100)).toFixed(1) + '%';
  }

  function autoregPage() {
    const stats = h('div', { class: 'stats' }, stat('Autoregistration', 'state'), stat('Time left', 'left'),
      stat('Phones this window', 'regs'), stat('DNs left', 'dns'), stat('Devices registered', 'devs'));
    const windowBody = h('div', { class: 'body', id: 'window-body' });
    const protoBody = h('div', { class: 'body', id: 'protocol-body' });
    const phonesTitle = h('h2', { text: 'Phones' });
    const phonesBody = h('div', { class: 'body flush' });
    app.replaceChildren(
      stats,
      h('div', { class: 'grid cols-2' },
        h('section', { class: 'card', id: 'window-card' }, h('header', null, h('h2', { text: 'Window' }), h('span', { id: 'window-badge' })), windowBody),
        h('section', { class: 'card', id: 'protocol-card' }, h('header', null, h('h2', { text: 'Auto Registration Phone Protocol' })), protoBody)),
      h('section', { class: 'card' }, h('header', null, phonesTitle, h('a', { href: '/devices', text: 'All devices →' })), phonesBody));

    let st = null;
    let formKey = '';
    let protoKey = '';
    let tick = null;

    function countdown() {
      const w = st && st.window;
      if (!st || !st.open || !w) { setText('left-value', '—'); setText('left-sub', st && !st.open ? 'no window open' : ''); return; }
      if (!w.until) { setText('left-value', 'no limit'); setText('left-sub', 'open for ' + fmtSpan((now() - Date.parse(w.opened_at)) / 1000)); return; }
      const left = (Date.parse(w.until) - now()) / 1000;
      setText('left-value', fmtDuration(left));
      setText('left-sub', 'until ' + fmtTime(w.until));
      const total = (Date.parse(w.until) - Date.parse(w.opened_at)) / 1000;
      setBar('stat-left', total > 0 ? left / total : 0, left < 300 ? 'bad' : 'warn');
    }

    function openForm() {
      const reason = h('input', { id: 'open-reason', name: 'reason', required: true, placeholder: 'bulk add, ticket 42', maxlength: 200 });
      const dur = h('select', { id: 'open-for', name: 'for' },
        ['15m', '30m', '1h', '2h', '4h'].map((d) => h('option', { value: d, selected: d === '30m' }, d)), h('option', { value: '' }, 'no limit'));
      const max = h('input', { id: 'open-max', name: 'max', type: 'number', min: 0, max: 10000, value: 50 });
      const problem = st.problem ? h('p', { class: 'callout error', id: 'problem' }, h('b', null, 'Autoregistration cannot open now. '), st.problem) : null;
      const btn = changeButton('Open window', { class: 'primary', id: 'open-window' });
      if (st.problem) { btn.disabled = true; btn.title = st.problem; }
      const form = h('form', { class: 'form', id: 'open-form' },
        problem,
        h('p', { class: 'muted' }, 'Autoregistration is closed: phones the registrar does not know are refused. Open a brief window for a batch; the guide advises fewer than 100 phones.'),
        h('div', { class: 'field' }, h('label', { for: 'open-reason', text: 'Reason' }), reason, h('div', { class: 'hint', text: 'Recorded in the event, with your name.' })),
        h('div', { class: 'row' },
          h('div', { class: 'field' }, h('label', { for: 'open-for', text: 'At most for' }), dur),
          h('div', { class: 'field' }, h('label', { for: 'open-max', text: 'At most phones' }), max)),
        h('div', { class: 'form-error' }),
        h('div', null, btn));
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        submit(form, async () => {
          const res = await api('POST', '/v1/autoreg/open', { reason: reason.value.trim(), for: dur.value || undefined, max: Number(max.value) || undefined });
          changed(res, `Window ${res.window ? res.window.id : ''} opened`);
          await refresh();
        });
      });
      return form;
    }

    function closeForm(w) {
      const reason = h('input', { id: 'close-reason', name: 'reason', required: true, placeholder: 'batch done', maxlength: 200 });
      const form = h('form', { class: 'form', id: 'close-form' },
        h('dl', { class: 'kv' },
          h('dt', { text: 'Window' }), h('dd', { class: 'mono', id: 'window-id', text: w.id }),
          h('dt', { text: 'Opened' }), h('dd', null, fmtTime(w.opened_at), ' by ', h('b', { text: w.by })),
          h('dt', { text: 'Reason' }), h('dd', { text: w.reason }),
          h('dt', { text: 'Protocol' }), h('dd', null, h('span', { class: 'proto', text: w.protocol })),
          h('dt', { text: 'Limits' }), h('dd', { text: [w.until ? 'until ' + fmtTime(w.until) : 'no time limit', w.max_registrations ? `at most ${w.max_registrations} phones` : 'no phone limit'].join(', ') })),
        h('div', { class: 'field' }, h('label', { for: 'close-reason', text: 'Reason for closing' }), reason),
        h('div', { class: 'form-error' }),
        h('div', null, changeButton('Close window', { class: 'warn', id: 'close-window' })));
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        submit(form, async () => {
          const res = await api('POST', '/v1/autoreg/close', { reason: reason.value.trim() });
          changed(res, `Window ${w.id} closed`);
          await refresh();
        });
      });
      return form;
    }

    function protocolPanel() {
      const cur = st.protocol;
      const form = h('form', { class: 'form', id: 'protocol-form' });
      const seg = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Auto Registration Phone Protocol' });
      for (const p of ['SCCP', 'SIP']) {
        const b = changeButton(p, { class: p === cur ? 'on' : '', id: 'protocol-' + p.toLowerCase(), 'aria-pressed': p === cur ? 'true' : 'false', type: 'button' });
        if (st.open && p !== cur) { b.disabled = true; b.title = 'Close the window first: switching inside it mixes the batch'; }
        b.addEventListener('click', () => p !== st.protocol && submit(form, async () => {
          const res = await api('PUT', '/v1/autoreg/protocol', { protocol: p });
          changed(res, `Protocol set to ${p}`);
          await refresh();
        }));
        seg.append(b);
      }
      form.append(
        h('div', { class: 'row' }, seg, st.open ? h('span', { class: 'disabled-why', text: 'Close the window before switching.' }) : null),
        h('div', { class: 'form-error' }),
        h('p', { class: 'callout info', id: 'advice' }, h('b', null, 'Batches. '), ADVICE));
      return form;
    }

    async function loadPhones() {
      const w = st.open && st.window;
      const list = await api('GET', '/v1/devices' + q(w ? { window: w.id, sort: '-last_seen', limit: 10 } : { sort: '-last_seen', limit: 10 }));
      phonesTitle.textContent = w ? `Phones autoregistered in ${w.id}` : 'Recently seen phones';
      const rows = list.devices.map((d) => h('tr', null,
        h('td', { class: 'mono' }, h('a', { href: '/devices?selected=' + seg(d.name), text: d.name })), h('td', { text: d.model }),
        h('td', null, h('span', { class: 'proto', text: d.protocol })), h('td', { class: 'mono', text: d.dn }), h('td', { text: d.pool }),
        h('td', null, d.registered ? badge('ok', 'registered') : badge('off', 'unregistered')), h('td', { class: 'mono', text: dash(d.address) }),
        h('td', null, when(d.last_seen))));
      phonesBody.replaceChildren(h('div', { class: 'table-wrap' }, h('table', { id: 'window-phones' },
        h('thead', null, h('tr', null, ['Name', 'Model', 'Protocol', 'DN', 'Pool', 'Status', 'Address', 'Last seen'].map((c) => h('th', { text: c })))),
        h('tbody', null, rows.length ? rows : h('tr', null, h('td', { class: 'empty', colspan: 8, text: w ? 'No phone has autoregistered in this window yet.' : 'No device yet.' }))))));
    }

    refresh = async () => {
      st = await api('GET', '/v1/status');
      const w = st.window;
      const stateCard = document.getElementById('stat-state');
      stateCard.classList.toggle('open', st.open);
      const sv = document.getElementById('state-value');
      sv.replaceChildren(st.open ? badge('open big', 'OPEN') : badge('off big', 'CLOSED'));
      setText('state-sub', st.open ? `${w.id} since ${fmtTime(w.opened_at).slice(11)} by ${w.by}` : (st.problem ? 'cannot open: see below' : 'off by default'));
      document.getElementById('window-badge').replaceChildren(st.open ? badge('open', 'open ' + w.id) : badge('off', 'closed'));

      const max = st.open && w.max_registrations;
      setText('regs-value', st.open ? (max ? `${st.registrations_in_window} / ${max}` : String(st.registrations_in_window)) : '—');
      setText('regs-sub', st.open ? (max ? `${max - st.registrations_in_window} left before the limit` : 'no limit') : '');
      if (max) setBar('stat-regs', st.registrations_in_window / max, st.registrations_in_window / max > 0.8 ? 'warn' : '');
      const size = rangeSize(st.range);
      setText('dns-value', String(st.dns_left));
      setText('dns-sub', size ? `of ${size} in ${st.range.start}–${st.range.end} (${st.range.partition})` : 'no range configured');
      if (size) setBar('stat-dns', (size - st.dns_left) / size, st.dns_left < 5 ? 'bad' : st.dns_left / size < 0.2 ? 'warn' : '');
      setText('devs-value', `${st.registered} / ${st.devices}`);
      setText('devs-sub', `security ${st.security}`);
      countdown();

      const key = st.open ? 'open:' + w.id : 'closed:' + st.problem;
      if (key !== formKey) {
        formKey = key;
        windowBody.replaceChildren(st.open ? closeForm(w) : openForm());
      }
      const pk = st.protocol + ':' + st.open;
      if (pk !== protoKey) {
        protoKey = pk;
        protoBody.replaceChildren(protocolPanel());
      }
      await loadPhones();
      if (!tick) tick = setInterval(countdown, 1000);
    };
  }

  // ---- Devices page --------------------------------------------------------

  // The devices table's columns: sort key (null: not sortable), title, and
  // whether it gives way to the drawer.
  const COLUMNS = [
    ['name', 'Name'], ['model', 'Model'], ['protocol', 'Protocol'], ['dn', 'DN'], ['pool', 'Pool'], [null, 'CSS', true],
    ['status', 'Status'], ['address', 'Address', true], ['last_seen', 'Last seen'],
  ];

  function devicesPage() {
    const params = new URLSearchParams(location.search);
    const state = {
      q: params.get('q') || '', status: params.get('status') || '', pool: params.get('pool') || '', model: params.get('model') || '',
      protocol: params.get('protocol') || '', sort: params.get('sort') || 'name', offset: Number(params.get('offset')) || 0,
      limit: Number(params.get('limit')) || 50, selected: params.get('selected') || '',
    };
    let cluster = null;
    let seen = null; // the names of the last page, to mark new rows
    // A device without a CSS of its own has its pool's.
    const cssOf = (d) => {
      if (d.css) return d.css;
      const p = cluster && cluster.pools.find((x) => x.name === d.pool);
      return p && p.css ? h('span', { class: 'muted', title: `the CSS of pool ${d.pool}` }, `${p.css} (pool)`) : '—';
    };
    let detail = null;

    const search = h('input', { id: 'search', type: 'search', placeholder: 'Name, DN or address', value: state.q, 'aria-label': 'Search' });
    const sel = (id, label, options, value) => h('div', { class: 'field' }, h('label', { for: id, text: label }),
      h('select', { id }, options.map(([v, t]) => h('option', { value: v, selected: v === value }, t))));
    const statusSel = sel('f-status', 'Status', [['', 'Any'], ['registered', 'Registered'], ['unregistered', 'Unregistered']], state.status);
    const protoSel = sel('f-protocol', 'Protocol', [['', 'Any'], ['sccp', 'SCCP'], ['sip', 'SIP']], state.protocol);
    const poolSel = sel('f-pool', 'Pool', [['', 'Any']], state.pool);
    const modelSel = sel('f-model', 'Model', [['', 'Any']], state.model);
    const limitSel = sel('f-limit', 'Rows', [['25', '25'], ['50', '50'], ['100', '100'], ['200', '200']], String(state.limit));
    const count = h('span', { id: 'count', class: 'num' });
    const prev = h('button', { type: 'button', id: 'prev' }, '← Previous');
    const next = h('button', { type: 'button', id: 'next' }, 'Next →');
    const thead = h('thead');
    const tbody = h('tbody');
    const table = h('table', { id: 'devices' }, thead, tbody);
    const drawer = h('aside', { class: 'card drawer', id: 'drawer', hidden: true });
    const layout = h('div', { class: 'devices-layout' },
      h('section', { class: 'card' },
        h('div', { class: 'toolbar' }, h('div', { class: 'field search' }, h('label', { for: 'search', text: 'Search' }), search),
          statusSel, poolSel, modelSel, protoSel, limitSel),
        h('div', { class: 'table-wrap' }, table),
        h('div', { class: 'pager' }, count, h('div', { class: 'buttons' }, prev, next))),
      drawer);
    app.replaceChildren(layout);

    function syncURL() {
      const p = {};
      for (const k of ['q', 'status', 'pool', 'model', 'protocol', 'selected']) if (state[k]) p[k] = state[k];
      if (state.sort !== 'name') p.sort = state.sort;
      if (state.offset) p.offset = state.offset;
      if (state.limit !== 50) p.limit = state.limit;
      history.replaceState(null, '', location.pathname + q(p));
    }
    function header() {
      const key = state.sort.replace(/^-/, '');
      const desc = state.sort.startsWith('-');
      thead.replaceChildren(h('tr', null, COLUMNS.map(([k, label, opt]) => {
        if (!k) return h('th', { text: label, class: opt ? 'opt' : null });
        return h('th', {
          class: 'sortable' + (opt ? ' opt' : ''), 'data-sort': k, tabindex: 0, 'aria-sort': k === key ? (desc ? 'descending' : 'ascending') : null,
          onclick: () => { state.sort = k === key && !desc ? '-' + k : k; state.offset = 0; header(); load(); },
        }, label);
      })));
    }
    const filterChange = () => { state.offset = 0; seen = null; load(); };
    let searchTimer = null;
    search.addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(() => { state.q = search.value.trim(); filterChange(); }, 250); });
    for (const [el, key] of [[statusSel, 'status'], [poolSel, 'pool'], [modelSel, 'model'], [protoSel, 'protocol']]) {
      el.querySelector('select').addEventListener('change', (ev) => { state[key] = ev.target.value; filterChange(); });
    }
    limitSel.querySelector('select').addEventListener('change', (ev) => { state.limit = Number(ev.target.value); filterChange(); });
    prev.addEventListener('click', () => { state.offset = Math.max(0, state.offset - state.limit); seen = null; load(); });
    next.addEventListener('click', () => { state.offset += state.limit; seen = null; load(); });

    function fillOptions(wrap, values, current) {
      const s = wrap.querySelector('select');
      s.replaceChildren(h('option', { value: '' }, 'Any'), ...values.map((v) => h('option', { value: v, selected: v === current }, v)));
    }

    async function load() {
      syncURL();
      const list = await api('GET', '/v1/devices' + q({ q: state.q, status: state.status, pool: state.pool, model: state.model,
        protocol: state.protocol, sort: state.sort, offset: state.offset, limit: state.limit }));
      const names = new Set(list.devices.map((d) => d.name));
      tbody.replaceChildren(...(list.devices.length ? list.devices.map((d) => {
        const tr = h('tr', { class: 'click' + (d.name === state.selected ? ' selected' : '') + (seen && !seen.has(d.name) ? ' fresh' : ''), 'data-name': d.name },
          h('td', { class: 'mono' }, h('b', { text: d.name })), h('td', { text: d.model }), h('td', null, h('span', { class: 'proto', text: d.protocol })),
          h('td', { class: 'mono', text: d.dn }), h('td', { text: d.pool }), h('td', { class: 'opt' }, cssOf(d)),
          h('td', null, d.registered ? badge('ok', 'registered') : badge('off', 'unregistered')),
          h('td', { class: 'mono opt', text: dash(d.address) }), h('td', null, when(d.last_seen)));
        tr.addEventListener('click', () => select(d.name));
        return tr;
      }) : [h('tr', null, h('td', { class: 'empty', colspan: COLUMNS.length, text: state.q || state.status || state.pool || state.model || state.protocol ? 'No device matches these filters.' : 'No device yet: open a window on the Autoregistration page and let phones register.' }))]));
      seen = names;
      const first = list.total ? state.offset + 1 : 0;
      const last = state.offset + list.devices.length;
      count.textContent = list.total ? `${first.toLocaleString()}–${last.toLocaleString()} of ${list.total.toLocaleString()} devices` : '0 devices';
      prev.disabled = state.offset === 0;
      next.disabled = last >= list.total;
      if (state.selected) await loadDetail();
    }

    function select(name) {
      state.selected = name === state.selected ? '' : name;
      detail = null;
      for (const tr of tbody.querySelectorAll('tr')) tr.classList.toggle('selected', tr.dataset.name === state.selected);
      syncURL();
      if (!state.selected) { closeDrawer(); return; }
      loadDetail().catch((e) => toast(e.message, e.code, true));
    }
    function closeDrawer() {
      drawer.hidden = true;
      layout.classList.remove('with-drawer');
      state.selected = '';
      for (const tr of tbody.querySelectorAll('tr.selected')) tr.classList.remove('selected');
      syncURL();
    }

    // The drawer: built when a device is selected; a live refresh updates
    // its details and history but keeps its forms as they are.
    async function loadDetail() {
      const name = state.selected;
      let d, hist;
      try {
        [d, hist] = await Promise.all([api('GET', '/v1/devices/' + seg(name)), api('GET', '/v1/devices/' + seg(name) + '/history')]);
      } catch (e) {
        if (e.status === 404) { toast(`${name} no longer exists`, '', true); closeDrawer(); return; }
        throw e;
      }
      if (name !== state.selected) return;
      if (!detail || detail.name !== name) buildDrawer(name);
      detail.info.replaceChildren(
        ...[['Model', d.model], ['Protocol', h('span', { class: 'proto', text: d.protocol })], ['DN', h('span', { class: 'mono', text: d.dn })],
          ['External', d.external_number], ['Partition', d.partition], ['Pool', h('b', { id: 'detail-pool', text: d.pool })], ['CSS', cssOf(d)],
          ['Status', d.registered ? badge('ok', 'registered') : badge('off', 'unregistered')], ['Address', h('span', { class: 'mono', text: dash(d.address) })],
          ['Node', d.node ? (d.outside_group ? `${d.node} (outside its pool's group)` : d.node) : '—'],
          ['Last seen', d.last_seen ? fmtTime(d.last_seen) : '—'], ['Expires', d.expires ? `${fmtTime(d.expires)} (${d.transport || 'UDP'})` : '—'],
          ['Origin', d.autoregistered ? `autoregistered in ${d.window}` : 'provisioned by hand'],
          ['Credentials', d.credentials ? 'SIP digest' : '—'],
          ['Description', d.description]].flatMap(([k, v]) => [h('dt', { text: k }), h('dd', null, v === undefined || v === '' ? '—' : v)]));
      const poolSelect = detail.pool;
      if (cluster && poolSelect.options.length === 0) {
        poolSelect.append(...cluster.pools.map((p) => h('option', { value: p.name, selected: p.name === d.pool }, p.name)));
      }
      detail.history.replaceChildren(...hist.events.slice().reverse().map((ev) => {
        const [what, cls] = describeEvent(ev);
        return h('li', { class: cls }, h('div', null, h('div', { class: 'what', text: what }),
          h('div', { class: 'meta' }, `${fmtTime(ev.recorded_at)} · ${ev.actor || '—'} · #${ev.position}`)));
      }));
    }

    function buildDrawer(name) {
      const info = h('dl', { class: 'kv', id: 'detail' });
      const pool = h('select', { id: 'move-pool', 'aria-label': 'Device pool' });
      const moveForm = h('form', { class: 'form', id: 'move-form' },
        h('label', { for: 'move-pool', text: 'Move to pool' }), h('div', { class: 'row' }, h('div', { class: 'field' }, pool), changeButton('Move', { class: 'primary', id: 'move' })),
        h('div', { class: 'hint', text: 'The pool brings its calling search space (checklist step 8: a permanent pool).' }), h('div', { class: 'form-error' }));
      moveForm.addEventListener('submit', (ev) => {
        ev.preventDefault();
        submit(moveForm, async () => {
          const res = await api('PATCH', '/v1/devices/' + seg(name), { pool: pool.value });
          changed(res, `${name} moved to ${pool.value}`);
          await load();
        });
      });
      const dn = h('input', { id: 'new-dn', inputmode: 'numeric', placeholder: 'e.g. 2001', 'aria-label': 'Directory number' });
      const dnForm = h('form', { class: 'form', id: 'dn-form' },
        h('label', { for: 'new-dn', text: 'Another directory number' }), h('div', { class: 'row' }, h('div', { class: 'field' }, dn), changeButton('Change DN', { id: 'change-dn' })),
        h('div', { class: 'hint', text: 'It must be free in the device\'s partition; the old one is released.' }), h('div', { class: 'form-error' }));
      dnForm.addEventListener('submit', (ev) => {
        ev.preventDefault();
        submit(dnForm, async () => {
          const res = await api('PATCH', '/v1/devices/' + seg(name), { dn: dn.value.trim() });
          changed(res, `${name} now has DN ${dn.value.trim()}`);
          dn.value = '';
          await load();
        });
      });
      const resetForm = h('form', { class: 'form', id: 'reset-form' },
        h('div', { class: 'row' }, changeButton('Reset phone', { id: 'reset' }), changeButton('Restart', { id: 'restart', type: 'button' })),
        h('div', { class: 'hint', text: 'The phone fetches its configuration again and registers with its pool\'s CallManagers (after a move, say).' }), h('div', { class: 'form-error' }));
      const doReset = (restart) => submit(resetForm, async () => {
        const res = await api('POST', '/v1/devices/' + seg(name) + '/reset', { restart });
        const told = res.reset && res.reset.delivered ? 'the phone was told' : `the phone was not told${res.reset && res.reset.detail ? ': ' + res.reset.detail : ''}`;
        changed(res, `${restart ? 'Restart' : 'Reset'} of ${name} recorded; ${told}`);
        await load();
      });
      resetForm.addEventListener('submit', (ev) => { ev.preventDefault(); doReset(false); });
      resetForm.querySelector('#restart').addEventListener('click', () => doReset(true));
      const credHint = h('div', { class: 'hint', text: 'A SIP phone with credentials must answer a digest challenge to move, add or re-point a contact, or unregister. Rotating sends the phone a check-sync: it fetches its file, which carries the new ones.' });
      const credForm = h('form', { class: 'form', id: 'credentials-form' },
        h('div', { class: 'row' }, changeButton('Rotate credentials', { id: 'rotate' }), changeButton('Show', { id: 'show-credentials', type: 'button' }),
          changeButton('Disable', { id: 'disable-credentials', type: 'button', class: 'danger' })),
        credHint, h('div', { class: 'form-error' }));
      credForm.addEventListener('submit', (ev) => {
        ev.preventDefault();
        submit(credForm, async () => {
          const res = await api('POST', '/v1/devices/' + seg(name) + '/credentials/rotate');
          const told = res.reset && res.reset.delivered ? 'the phone was told' : `the phone was not told${res.reset && res.reset.detail ? ': ' + res.reset.detail : ''}`;
          changed(res, `Credentials of ${name} rotated; ${told}`);
          await load();
        });
      });
      credForm.querySelector('#show-credentials').addEventListener('click', () => submit(credForm, async () => {
        const c = await api('GET', '/v1/devices/' + seg(name) + '/credentials');
        credHint.textContent = c.user ? `User ${c.user}, password ${c.password} (realm ${c.realm}; profile ${c.profile})` : `No credentials (profile ${c.profile})`;
      }));
      credForm.querySelector('#disable-credentials').addEventListener('click', () => submit(credForm, async () => {
        const res = await api('POST', '/v1/devices/' + seg(name) + '/credentials/disable');
        changed(res, `Credentials of ${name} disabled`);
        await load();
      }));
      const del = changeButton('Delete device…', { class: 'danger', id: 'delete', type: 'button' });
      const cancel = h('button', { type: 'button', id: 'delete-cancel', hidden: true }, 'Cancel');
      const delForm = h('form', { class: 'form', id: 'delete-form' }, h('div', { class: 'row' }, del, cancel),
        h('div', { class: 'hint', text: 'Its DN becomes free; if the phone comes back it is a stranger again.' }), h('div', { class: 'form-error' }));
      del.addEventListener('click', () => {
        if (!del.classList.contains('confirm')) {
          del.classList.add('confirm');
          del.textContent = `Delete ${name}`;
          del.id = 'delete-confirm';
          cancel.hidden = false;
          return;
        }
        submit(delForm, async () => {
          const res = await api('DELETE', '/v1/devices/' + seg(name));
          changed(res, `${name} deleted`);
          closeDrawer();
          await load();
        });
      });
      cancel.addEventListener('click', () => { del.classList.remove('confirm'); del.textContent = 'Delete device…'; del.id = 'delete'; cancel.hidden = true; });
      const history = h('ol', { class: 'timeline', id: 'history' });
      const closeBtn = h('button', { type: 'button', class: 'close', 'aria-label': 'Close', title: 'Close' }, '×');
      closeBtn.addEventListener('click', closeDrawer);
      drawer.replaceChildren(
        h('header', null, h('h2', { class: 'mono', id: 'detail-name', text: name }), closeBtn),
        h('div', { class: 'body' }, info),
        h('div', { class: 'body actions' }, h('h3', { text: 'Change' }), moveForm, dnForm, resetForm, credForm, delForm),
        h('div', { class: 'body' }, h('h3', { text: 'History' }), history));
      drawer.hidden = false;
      layout.classList.add('with-drawer');
      detail = { name, info, pool, history };
    }

    header();
    refresh = async () => {
      if (!cluster) {
        cluster = await api('GET', '/v1/cluster');
        fillOptions(poolSel, cluster.pools.map((p) => p.name), state.pool);
        fillOptions(modelSel, cluster.device_defaults.map((m) => m.model), state.model);
      }
      await load();
    };
  }

  // ---- Cluster page ----------------------------------------------------------

  function table(id, heads, rows, empty) {
    return h('div', { class: 'table-wrap short' }, h('table', { id },
      h('thead', null, h('tr', null, heads.map((c) => h('th', { text: c })))),
      h('tbody', null, rows.length ? rows : h('tr', null, h('td', { class: 'empty', colspan: heads.length, text: empty || 'None.' })))));
  }
  const tr = (...cells) => h('tr', null, cells.map((c) => (c instanceof Node && c.tagName === 'TD' ? c : h('td', null, c === '' || c === undefined ? '—' : c))));

  // A form that changes one kind of object: fields by name, a save button,
  // run(values) making the API call. It is built once: refreshes of the page
  // update its selects' options and leave what the administrator typed.
  function editForm(id, fields, label, run, hint) {
    const els = {};
    const cells = fields.map((f) => {
      const fid = id + '-' + f.name;
      let el;
      if (f.type === 'select') el = h('select', { id: fid });
      else if (f.type === 'checkbox') el = h('input', { id: fid, type: 'checkbox' });
      else el = h('input', { id: fid, type: f.type || 'text', placeholder: f.placeholder, required: f.required, min: f.min, max: f.max, autocomplete: 'off' });
      if (!canWrite) el.disabled = true;
      els[f.name] = el;
      if (f.type === 'checkbox') return h('div', { class: 'field check' }, h('label', { for: fid }, el, ' ' + f.label));
      return h('div', { class: 'field' + (f.wide ? ' wide' : '') }, h('label', { for: fid, text: f.label }), el);
    });
    const form = h('form', { class: 'form edit', id },
      hint ? h('p', { class: 'muted small', text: hint }) : null,
      h('div', { class: 'row' }, cells, changeButton(label, { id: id + '-save', class: 'primary' })),
      h('div', { class: 'form-error' }));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!canWrite) return;
      submit(form, async () => {
        const v = {};
        for (const [k, el] of Object.entries(els)) v[k] = el.type === 'checkbox' ? el.checked : el.value.trim();
        const res = await run(v);
        changed(res, label + ': done');
        await refresh();
      });
    });
    // fill puts an object's values in the form (a row clicked).
    form.fill = (vals) => {
      for (const [k, v] of Object.entries(vals)) {
        const el = els[k];
        if (!el) continue;
        if (el.type === 'checkbox') el.checked = !!v; else el.value = v === undefined || v === null ? '' : v;
      }
      form.scrollIntoView({ block: 'nearest' });
    };
    // options sets a select's choices, keeping its value when still offered.
    form.options = (name, values, none) => {
      const el = els[name];
      const was = el.value;
      el.replaceChildren(...(none !== undefined ? [h('option', { value: '' }, none)] : []), ...values.map((v) => h('option', { value: v }, v)));
      if ([...el.options].some((o) => o.value === was)) el.value = was;
    };
    return form;
  }
  const list = (text) => text.split(/[\s,→>]+/).map((x) => x.trim()).filter(Boolean);
  const port = (text) => (text === '' ? undefined : Number(text));

  // A row's delete button: asks once more, then deletes.
  function deleteButton(what, path) {
    const b = h('button', { type: 'button', class: 'danger small', title: 'Delete ' + what }, 'Delete');
    if (!canWrite) { b.disabled = true; b.title = READ_ONLY; }
    b.addEventListener('click', async (ev) => {
      ev.stopPropagation();
      if (!b.classList.contains('confirm')) { b.classList.add('confirm'); b.textContent = 'Delete ' + what + '?'; return; }
      b.disabled = true;
      try { changed(await api('DELETE', path), what + ' deleted'); await refresh(); } catch (e) { if (e.status !== 401) toast(e.message, e.code, true); b.disabled = false; }
    });
    return h('td', { class: 'actions' }, b);
  }
  const editable = (form, vals, ...cells) => {
    const row = tr(...cells);
    row.classList.add('pick');
    row.title = 'Edit: fills the form below';
    row.addEventListener('click', () => form.fill(vals));
    return row;
  };

  function clusterPage() {
    const cmForm = editForm('cm-form', [
      { name: 'name', label: 'Name', required: true, placeholder: 'CM3' },
      { name: 'description', label: 'Description', wide: true },
      { name: 'host', label: 'Host (phones reach it at)', placeholder: '10.1.1.3' },
      { name: 'sccp_port', label: 'SCCP port', type: 'number', min: 1, max: 65535, placeholder: '2000' },
      { name: 'sip_port', label: 'SIP port', type: 'number', min: 1, max: 65535, placeholder: '5060' },
      { name: 'autoreg_enabled', label: 'Autoregistration enabled', type: 'checkbox' },
    ], 'Save CallManager', (v) => api('PUT', '/v1/callmanagers/' + seg(v.name), {
      description: v.description, autoreg_enabled: v.autoreg_enabled, host: v.host, sccp_port: port(v.sccp_port), sip_port: port(v.sip_port) }),
    'Click a row to edit it. Only the first CallManager of the auto-registration group with autoregistration enabled takes new phones.');
    const groupForm = editForm('group-form', [
      { name: 'name', label: 'Name', required: true },
      { name: 'callmanagers', label: 'CallManagers, in order', wide: true, placeholder: 'CM1, CM2', required: true },
      { name: 'autoreg', label: 'Auto-registration group', type: 'checkbox' },
    ], 'Save group', (v) => api('PUT', '/v1/groups/' + seg(v.name), { callmanagers: list(v.callmanagers), autoreg: v.autoreg ? true : undefined }),
    'Flagging a group unflags the others; to unflag the flagged group, flag another.');
    const poolForm = editForm('pool-form', [
      { name: 'name', label: 'Name', required: true },
      { name: 'group', label: 'CallManager group', type: 'select' },
      { name: 'css', label: 'Calling search space', type: 'select' },
      { name: 'autoreg_css', label: 'CSS for auto-registration', type: 'select' },
      { name: 'default', label: 'Default pool', type: 'checkbox' },
    ], 'Save pool', async (v) => {
      const res = await api('PUT', '/v1/pools/' + seg(v.name), { group: v.group, css: v.css || undefined, autoreg_css: v.autoreg_css || undefined });
      if (v.default) return api('PUT', '/v1/default-pool', { pool: v.name });
      return res;
    });
    const cssForm = editForm('css-form', [
      { name: 'name', label: 'Name', required: true },
      { name: 'partitions', label: 'Partitions, in search order', wide: true, placeholder: 'Internal, Emergency', required: true },
    ], 'Save CSS', (v) => api('PUT', '/v1/css/' + seg(v.name), { partitions: list(v.partitions) }));
    const partitionForm = editForm('partition-form', [
      { name: 'name', label: 'Partition', required: true },
      { name: 'description', label: 'Description', wide: true },
    ], 'Save partition', (v) => api('PUT', '/v1/partitions/' + seg(v.name), { description: v.description }));
    const patternForm = editForm('pattern-form', [
      { name: 'pattern', label: 'Route pattern', required: true, placeholder: '9.[2-9]XXXXXX' },
      { name: 'partition', label: 'Partition', type: 'select' },
      { name: 'block', label: 'Block this pattern', type: 'checkbox' },
    ], 'Add pattern', (v) => api('POST', '/v1/patterns', { pattern: v.pattern, partition: v.partition, block: v.block }));
    const ddForm = editForm('dd-form', [
      { name: 'model', label: 'Model', required: true, placeholder: '7961' },
      { name: 'load_sccp', label: 'SCCP load', placeholder: 'SCCP41.9-4-2SR3-1S' },
      { name: 'load_sip', label: 'SIP load', placeholder: 'SIP41.9-4-2SR3-1S' },
      { name: 'pool', label: 'Device pool', type: 'select' },
    ], 'Save Device Defaults', (v) => api('PUT', '/v1/device-defaults/' + seg(v.model), { load_sccp: v.load_sccp, load_sip: v.load_sip, pool: v.pool || undefined }),
    'The loads reach the phones in their configuration files (TFTP) and the SCCP VersionMessage.');
    const rangeForm = editForm('range-form', [
      { name: 'start', label: 'Starting DN', required: true },
      { name: 'end', label: 'Ending DN', required: true },
      { name: 'partition', label: 'Partition', type: 'select' },
      { name: 'mask', label: 'External phone number mask', placeholder: '40855510XX' },
    ], 'Save range', (v) => api('PUT', '/v1/range', { start: v.start, end: v.end, partition: v.partition || undefined, mask: v.mask || undefined }),
    'Starting DN equal to Ending DN disables autoregistration.');
    const autoregCSSForm = editForm('autoreg-css-form', [
      { name: 'css', label: 'Calling search space for auto-registration', type: 'select' },
    ], 'Save', (v) => api('PUT', '/v1/autoreg/css', { css: v.css }));

    const slot = () => h('div', { class: 'body flush' });
    const slots = { cms: slot(), groups: slot(), pools: slot(), css: slot(), patterns: slot(), dd: slot() };
    const settings = h('div', { class: 'body' });
    const partitionsLine = h('div', { class: 'body' });
    const body = (f) => h('div', { class: 'body' }, f);
    app.replaceChildren(
      h('p', { class: 'callout info' }, 'Changes here are the same commands and events as ', h('code', { text: 'registrar admin' }), ' and the API, recorded with your name. The configuration file is applied again at every start: change it too, or its next start puts its values back.'),
      h('div', { class: 'grid cols-wide' },
        card('Autoregistration', null, settings, body(rangeForm), body(autoregCSSForm)),
        card('CallManagers', null, slots.cms, body(cmForm)),
        card('CallManager groups', null, slots.groups, body(groupForm)),
        card('Device pools', null, slots.pools, body(poolForm)),
        card('Calling search spaces', null, slots.css, body(cssForm)),
        card('Partitions and route patterns', null, slots.patterns, partitionsLine, body(patternForm), body(partitionForm)),
        card('Device Defaults', null, slots.dd, body(ddForm))));
    let filled = false;

    refresh = async () => {
      const [c, nodes] = await Promise.all([api('GET', '/v1/cluster'), api('GET', '/v1/nodes').catch(() => ({ nodes: [] }))]);
      const node = Object.fromEntries((nodes.nodes || []).map((n) => [n.name, n]));
      const r = c.range;
      settings.replaceChildren(h('dl', { class: 'kv', id: 'settings' },
        h('dt', { text: 'Auto Registration Phone Protocol' }), h('dd', null, h('span', { class: 'proto', text: c.protocol })),
        h('dt', { text: 'Security mode' }), h('dd', null, c.security === 'mixed' ? badge('bad', 'mixed: autoregistration disabled') : badge('ok', 'non-secure')),
        h('dt', { text: 'Auto-registration group' }), h('dd', { text: dash(c.autoreg_group) }),
        h('dt', { text: 'Autoregistration CSS' }), h('dd', { text: dash(c.autoreg_css) }),
        h('dt', { text: 'Default device pool' }), h('dd', { text: dash(c.default_pool) }),
        h('dt', { text: 'Directory numbers' }), h('dd', null, r.start ? `${r.start}–${r.end} in ${r.partition}` : 'no range', r.mask ? ` (mask ${r.mask})` : ''),
        h('dt', { text: 'Window' }), h('dd', null, c.window ? badge('open', 'open ' + c.window.id) : badge('off', 'closed'))));
      const where = (m) => (m.host ? h('td', { title: `SCCP port ${m.sccp_port || 2000}, SIP port ${m.sip_port || 5060}` }, h('span', { class: 'mono', text: m.host }),
        h('div', { class: 'muted small', text: `SCCP ${m.sccp_port || 2000} · SIP ${m.sip_port || 5060}` })) : '');
      slots.cms.replaceChildren(table('callmanagers', ['Name', 'Where', 'Node', 'Autoreg.', ''],
        c.callmanagers.map((m) => {
          const n = node[m.name];
          const up = n ? (n.up ? badge('ok', `up, ${n.devices} device${n.devices === 1 ? '' : 's'}`, n.process) : badge('off', 'down')) : '';
          return editable(cmForm, m, h('td', null, h('b', { text: m.name }), m.description ? h('div', { class: 'muted small', text: m.description }) : null), where(m), h('td', null, up),
            h('td', null, m.autoreg_enabled ? badge('ok', 'enabled') : badge('off', 'disabled')), deleteButton(m.name, '/v1/callmanagers/' + seg(m.name)));
        })));
      slots.groups.replaceChildren(table('groups', ['Name', 'CallManagers, in order', '', ''],
        c.groups.map((g) => editable(groupForm, { name: g.name, callmanagers: g.callmanagers.join(', '), autoreg: g.autoreg },
          h('td', null, h('b', { text: g.name })), g.callmanagers.join(' → '), h('td', null, g.autoreg ? badge('info', 'autoregistration group') : ''),
          deleteButton(g.name, '/v1/groups/' + seg(g.name))))));
      slots.pools.replaceChildren(table('pools', ['Name', 'Group', 'CSS', 'CSS for auto-registration', '', ''],
        c.pools.map((p) => editable(poolForm, Object.assign({ default: p.name === c.default_pool }, p),
          h('td', null, h('b', { text: p.name })), p.group, p.css, p.autoreg_css, h('td', null, p.name === c.default_pool ? badge('info', 'default') : ''),
          deleteButton(p.name, '/v1/pools/' + seg(p.name))))));
      slots.css.replaceChildren(table('css', ['Name', 'Partitions, in order', ''],
        c.css.map((x) => editable(cssForm, { name: x.name, partitions: x.partitions.join(', ') },
          h('td', null, h('b', { text: x.name })), x.partitions.join(' → '), deleteButton(x.name, '/v1/css/' + seg(x.name))))));
      slots.patterns.replaceChildren(table('patterns', ['Pattern', 'Partition', '', ''],
        c.patterns.map((p) => tr(h('td', { class: 'mono', text: p.pattern }), p.partition, h('td', null, p.block ? badge('bad', 'blocks') : badge('ok', 'routes')),
          deleteButton(p.pattern, '/v1/patterns' + q({ pattern: p.pattern, partition: p.partition })))),
        'No route pattern.'));
      partitionsLine.replaceChildren(h('span', { class: 'muted', text: 'Partitions: ' }),
        h('span', { id: 'partitions' }, c.partitions.length ? c.partitions.map((name, i) => [i ? ', ' : '', h('span', { class: 'partition' }, name)]) : '—'));
      slots.dd.replaceChildren(table('device-defaults', ['Model', 'SCCP load', 'SIP load', 'Pool'],
        c.device_defaults.map((d) => editable(ddForm, d, h('td', null, h('b', { text: d.model })), h('td', { class: 'mono', text: dash(d.load_sccp) }), h('td', { class: 'mono', text: dash(d.load_sip) }), d.pool))));

      const pools = c.pools.map((p) => p.name), css = c.css.map((x) => x.name);
      poolForm.options('group', c.groups.map((g) => g.name));
      poolForm.options('css', css, '(none)');
      poolForm.options('autoreg_css', css, '(the cluster\'s)');
      patternForm.options('partition', c.partitions);
      ddForm.options('pool', pools, '(the default pool)');
      rangeForm.options('partition', c.partitions, '(none)');
      autoregCSSForm.options('css', css);
      if (!filled) { // the settings as they are, once: after that, what the administrator types stays
        filled = true;
        rangeForm.fill({ start: r.start, end: r.end, partition: r.partition, mask: r.mask });
        autoregCSSForm.fill({ css: c.autoreg_css });
      }
    };
  }

  // ---- Audit page ------------------------------------------------------------

  function auditPage() {
    refresh = async () => {
      const res = await api('GET', '/v1/windows');
      const ws = res.windows;
      const t0 = ws.length ? Date.parse(ws[0].opened_at) : now();
      const ends = ws.filter((w) => !w.open).map((w) => Date.parse(w.closed_at));
      const t1 = Math.max(now(), ...ends, t0 + 1000);
      const spanOf = (w) => {
        const end = w.open ? (w.until ? Math.min(Date.parse(w.until), t1) : t1) : Date.parse(w.closed_at);
        return [Date.parse(w.opened_at), end];
      };
      const mixed = (w) => w.protocol_changes > 0 || Object.keys(w.registrations_by_protocol || {}).length > 1;
      const total = Math.max(t1 - t0, 1);
      const lanes = ws.slice(-30).map((w) => {
        const [a, b] = spanOf(w);
        const el = h('div', { class: 'span' + (w.open ? ' open' : '') + (mixed(w) ? ' mixed' : ''), title: `${w.id}: ${fmtTime(w.opened_at)} – ${w.open ? 'open' : fmtTime(w.closed_at)}, ${w.registrations} phones` });
        const left = Math.min(Math.max((a - t0) / total * 100, 0), 99.6);
        el.style.left = left.toFixed(2) + '%';
        el.style.width = Math.min(Math.max((b - a) / total * 100, 0.4), 100 - left).toFixed(2) + '%';
        return h('div', { class: 'lane' }, h('span', { class: 'mono', text: w.id }), h('div', { class: 'track' }, el));
      });
      const rows = ws.slice().reverse().map((w) => {
        const [a, b] = spanOf(w);
        const flags = [];
        if (w.open) flags.push(badge('open', 'open'));
        if (mixed(w)) flags.push(badge('bad', 'mixed batch', 'protocol-mixed-batch: both protocols in one window'));
        if ((b - a) / 1000 > 3600) flags.push(badge('bad', 'over 1 h', 'window-too-long'));
        if (w.registrations >= 100) flags.push(badge('bad', '100+ phones', 'too-many-phones'));
        const byProto = Object.entries(w.registrations_by_protocol || {}).map(([p, n]) => `${n} ${p}`).join(', ');
        return tr(h('td', { class: 'mono' }, h('b', { text: w.id })),
          h('td', null, fmtTime(w.opened_at), h('div', { class: 'muted small', text: w.opened_by })),
          h('td', { text: w.open_reason }),
          h('td', null, w.open ? '—' : fmtTime(w.closed_at), h('div', { class: 'muted small', text: w.open ? 'still open' : `${w.closed_by || ''} (${w.close_cause})` })),
          h('td', { class: 'num', text: fmtSpan((b - a) / 1000) }),
          h('td', null, h('span', { class: 'proto', text: w.protocol })),
          h('td', { class: 'num' }, String(w.registrations), byProto ? h('div', { class: 'muted small', text: byProto }) : null),
          h('td', { class: 'num', text: String(w.rejected) }),
          h('td', null, flags.length ? flags : badge('ok', 'as advised')));
      });
      let reportBody;
      if (res.report) {
        const since = h('input', { id: 'report-since', type: 'date' });
        const until = h('input', { id: 'report-until', type: 'date' });
        const link = h('a', { id: 'report-link', href: '/audit/report', target: '_blank', rel: 'noopener', class: 'button-link' }, h('button', { type: 'button', class: 'primary' }, 'Open the report'));
        const upd = () => { link.href = '/audit/report' + q({ since: since.value, until: until.value }); };
        since.addEventListener('change', upd);
        until.addEventListener('change', upd);
        reportBody = h('div', { class: 'form' },
          h('p', { class: 'muted', text: 'The compliance report checks the log against the guide\'s advice (brief windows, fewer than 100 phones, one autoregistration CallManager, a restricted CSS, phones moved to permanent pools, batches one protocol at a time). Leave the dates empty for the whole log.' }),
          h('div', { class: 'row' }, h('div', { class: 'field' }, h('label', { for: 'report-since', text: 'From' }), since),
            h('div', { class: 'field' }, h('label', { for: 'report-until', text: 'To' }), until), link));
      } else {
        reportBody = h('p', { class: 'callout info' }, 'This registrar does not serve the compliance report; make it with ', h('code', { text: 'compliance report --format html -o report.html --data DATA' }), '.');
      }
      app.replaceChildren(
        card('Windows on a time line', h('span', { class: 'muted small', text: ws.length ? `${ws.length > 30 ? 'the last 30 of ' : ''}${ws.length} window${ws.length === 1 ? '' : 's'}; amber: open, red: mixed batch` : '' }),
          ws.length ? h('div', { class: 'gantt', id: 'gantt' }, lanes,
            h('div', { class: 'axis' }, h('span', { text: fmtTime(new Date(t0).toISOString()) }), h('span', { text: fmtTime(new Date(t0 + total / 2).toISOString()) }), h('span', { text: 'now' })))
            : h('div', { class: 'body muted', text: 'No window was ever opened.' })),
        card('Windows', h('span', { class: 'muted small', text: `${ws.length} in all` }), h('div', { class: 'body flush' },
          table('windows', ['Window', 'Opened', 'Reason', 'Closed', 'Open for', 'Protocol', 'Phones', 'Refused', 'Advice'], rows, 'No window was ever opened.'))),
        card('Compliance report', null, h('div', { class: 'body' }, reportBody)));
    };
  }

  // ---- Start ---------------------------------------------------------------

  const pages = { autoreg: autoregPage, devices: devicesPage, cluster: clusterPage, audit: auditPage };
  if (!pages[page]) return;
  pages[page]();
  refresh().then(() => { body.dataset.ready = 'true'; }).catch((e) => {
    if (e.status !== 401) app.prepend(h('p', { class: 'callout error', role: 'alert' }, e.message));
  });
  connect();
})();

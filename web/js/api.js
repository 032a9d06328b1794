// The orchestrator's JSON API (docs/api.md), from the page's own origin:
// the browser sends the login cookie or its client certificate.
export async function call(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch('/v1/' + path, opts);
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    data = { error: text };
  }
  if (!resp.ok) {
    throw new Error((data && data.error) || resp.status + ' ' + resp.statusText);
  }
  return data;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body);

// Live events (server-sent events) after event @since; @onEvent gets each.
export function stream(since, onEvent, onState) {
  const es = new EventSource('/v1/events/stream?since=' + since);
  es.addEventListener('vm', (m) => onEvent(JSON.parse(m.data)));
  es.onopen = () => onState(true);
  es.onerror = () => onState(false);
  return es;
}

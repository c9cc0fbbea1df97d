// The playground in a real browser: headless Chromium, driven over the DevTools protocol on a
// pipe (--remote-debugging-pipe: no port, no WebSocket client, no npm package; Node ≥ 18).
// Loads the page, checks it opens with the README's first query, that every request it makes
// stays on the gateway's origin and nothing is blocked or throws, runs the query and waits for
// data in the result pane, and that the page may open the gateway's WebSocket (subscriptions).
// Usage: node ci/playground.mjs http://127.0.0.1:18203/playground [chromium binary]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const pageUrl = process.argv[2];
const browser = process.argv[3] || process.env.CHROMIUM || 'chromium';
if (!pageUrl) {
  console.error('usage: node ci/playground.mjs <playground URL> [chromium binary]');
  process.exit(2);
}
const origin = new URL(pageUrl).origin;
const profile = mkdtempSync(join(tmpdir(), 'chronograph-playground-'));
const chrome = spawn(
  browser,
  [
    '--headless=new',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-background-networking',
    '--disable-component-update',
    '--remote-debugging-pipe',
    `--user-data-dir=${profile}`,
    'about:blank',
  ],
  { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
);
let chromeLog = '';
chrome.stderr.on('data', (chunk) => (chromeLog += chunk));

const toBrowser = chrome.stdio[3];
const fromBrowser = chrome.stdio[4];
const pending = new Map();
const requests = [];
const problems = [];
let nextId = 0;
let buffer = '';
fromBrowser.on('data', (chunk) => {
  buffer += chunk.toString('utf8');
  let end;
  while ((end = buffer.indexOf('\0')) >= 0) {
    const message = JSON.parse(buffer.slice(0, end));
    buffer = buffer.slice(end + 1);
    if (message.id !== undefined && pending.has(message.id)) {
      pending.get(message.id)(message);
      pending.delete(message.id);
    } else {
      onEvent(message);
    }
  }
});

function onEvent({ method, params }) {
  if (method === 'Network.requestWillBeSent') requests.push(params.request.url);
  if (method === 'Runtime.exceptionThrown') {
    problems.push(`exception: ${params.exceptionDetails.exception?.description ?? params.exceptionDetails.text}`);
  }
  if (method === 'Log.entryAdded' && params.entry.level === 'error') {
    problems.push(`console: ${params.entry.text} ${params.entry.url ?? ''}`);
  }
}

function send(method, params = {}, sessionId) {
  return new Promise((resolve, reject) => {
    const id = ++nextId;
    pending.set(id, (message) =>
      message.error ? reject(new Error(`${method}: ${message.error.message}`)) : resolve(message.result),
    );
    toBrowser.write(JSON.stringify({ id, method, params, sessionId }) + '\0');
  });
}

async function evaluate(session, expression) {
  const { result, exceptionDetails } = await send(
    'Runtime.evaluate',
    { expression, returnByValue: true, awaitPromise: true },
    session,
  );
  if (exceptionDetails) throw new Error(`${expression}: ${exceptionDetails.text}`);
  return result.value;
}

async function waitFor(session, what, expression, seconds = 20) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const value = await evaluate(session, expression);
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function fail(message) {
  console.error(`playground: FAIL: ${message}`);
  if (problems.length) console.error(problems.join('\n'));
  finish(1);
}

let finished = false;
function finish(code) {
  if (finished) return;
  finished = true;
  chrome.removeAllListeners('exit');
  chrome.once('exit', () => {
    try {
      rmSync(profile, { recursive: true, force: true });
    } catch {
      // A leftover profile in the temp directory is harmless.
    }
    process.exit(code);
  });
  chrome.kill('SIGKILL');
}

const watchdog = setTimeout(() => fail('no verdict within 60 s'), 60_000);
chrome.on('exit', (code) => {
  if (code !== null && code !== 0) fail(`chromium exited with ${code}\n${chromeLog.slice(-2000)}`);
});

try {
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
  for (const domain of ['Page', 'Runtime', 'Log', 'Network']) await send(`${domain}.enable`, {}, sessionId);
  await send('Page.navigate', { url: pageUrl }, sessionId);

  await waitFor(sessionId, 'the execute button', `!!document.querySelector('.graphiql-execute-button')`);
  const editor = await waitFor(
    sessionId,
    'the first query in the editor',
    `(document.querySelector('.graphiql-query-editor')?.textContent || '').includes('integrations(source: CELIGO, first: 5)') && document.querySelector('.graphiql-query-editor').textContent`,
  );
  const headersTab = await evaluate(
    sessionId,
    `[...document.querySelectorAll('.graphiql-editor-tools button')].map(b => b.textContent).join(',')`,
  );
  if (!headersTab.includes('Headers')) fail(`no header editor (tools: ${headersTab})`);
  await evaluate(sessionId, `document.querySelector('.graphiql-execute-button').click(); true`);
  const result = await waitFor(
    sessionId,
    'data in the result pane',
    `(() => { const t = document.querySelector('.result-window')?.textContent || ''; return t.includes('"data"') && t.includes('"integrations"') && t.includes('"nodes"') ? t : ''; })()`,
  );
  if (result.includes('"errors"')) fail(`the result has errors: ${result.slice(0, 500)}`);
  // Subscriptions: the page's Content-Security-Policy must let it open the gateway's WebSocket.
  const socket = await evaluate(
    sessionId,
    `new Promise((resolve) => {
       const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql/ws', 'graphql-transport-ws');
       ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init' }));
       ws.onmessage = (event) => { resolve(JSON.parse(event.data).type); ws.close(); };
       ws.onerror = () => resolve('error');
       setTimeout(() => resolve('timeout'), 5000);
     })`,
  );
  if (socket !== 'connection_ack') fail(`the page cannot reach /graphql/ws: ${socket}`);
  const foreign = requests.filter((url) => !url.startsWith(origin) && !url.startsWith('data:'));
  if (foreign.length) fail(`requests left the gateway's origin: ${foreign.join(', ')}`);
  if (problems.length) fail('the page logged errors');
  clearTimeout(watchdog);
  console.log(
    `playground: OK (${requests.length} requests, all to ${origin}; editor opened with the first query ` +
      `(${editor.length} chars); result pane shows data: ${result.replace(/\s+/g, ' ').slice(0, 80)}…)`,
  );
  finish(0);
} catch (error) {
  fail(error.message);
}

// Test CSMS: an OCPP 1.6-J central system for wattstream's integration tests
// and sim/demo, built on ocpp-rpc in strict mode (every frame in both
// directions is checked against the OCPP 1.6 + security-extension schemas).
// It answers every charge-point-initiated action with a sane default that a
// test can override, records every frame, connection and validation failure,
// and lets a test script calls, raw frames, outages and refusals.
//
// Cost: one RPCServerClient per charge point; every frame is kept in memory
// for the life of the CSMS (a test run, or a demo), and each waitFor scans
// only the records that arrived since it last looked.
//
// Library use:  const csms = await startCsms({port: 0}); ... await csms.stop();
// CLI use:      node sim/csms/csms.mjs --port 9000   (prints "READY port=N")
// The API and CLI are documented in docs/test-csms.md.

import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import crypto from 'node:crypto';
import fs from 'node:fs';
import ocppRpc from 'ocpp-rpc';

const { RPCServer, NOREPLY: RPC_NOREPLY } = ocppRpc;

// ocpp-rpc's own error factory, for handlers that prefer it to callError().
export const { createRPCError } = ocppRpc;

export const SUBPROTOCOL = 'ocpp1.6';
export const VENDOR_ID = 'org.wattstream';
const BOOT_STATUSES = ['Accepted', 'Pending', 'Rejected'];
const IDTAG_STATUSES = ['Accepted', 'Blocked', 'Expired', 'Invalid', 'ConcurrentTx'];
const HEARTBEAT_DEFAULT_S = 300;
const CALL_TIMEOUT_DEFAULT_MS = 30000;
const WAIT_TIMEOUT_DEFAULT_MS = 10000;
const CLOSE_GRACE_MS = 2000;   // goAway: how long a close handshake may take before we cut
const SHORT_PAYLOAD_CHARS = 160;

// Return this from a handler to send no reply at all (call-timeout tests).
export const NOREPLY = RPC_NOREPLY;

// A CALLERROR, exactly as it travels: thrown by a handler to answer with it,
// returned by csms.call() when the charge point answers with one.
export class CallError extends Error {
  constructor(errorCode, errorDescription = '', errorDetails = {}, raw = undefined) {
    super(`${errorCode}: ${errorDescription}`);
    this.name = 'CallError';
    this.errorCode = errorCode;
    this.errorDescription = errorDescription;
    this.errorDetails = errorDetails;
    if (raw !== undefined)
      this.raw = raw;
  }
}

export function callError(errorCode, errorDescription = '', errorDetails = {}) {
  return new CallError(errorCode, errorDescription, errorDetails);
}

export function isCallError(x) {
  return x instanceof CallError;
}

// Every action a 1.6 charge point may start (core profiles + security extension).
export const CP_ACTIONS = [
  'Authorize', 'BootNotification', 'DataTransfer', 'DiagnosticsStatusNotification',
  'FirmwareStatusNotification', 'Heartbeat', 'MeterValues', 'StartTransaction',
  'StatusNotification', 'StopTransaction', 'SecurityEventNotification',
  'SignCertificate', 'LogStatusNotification', 'SignedFirmwareStatusNotification',
];

function nowIso() {
  return new Date().toISOString();
}

function shortText(x) {
  const s = typeof x === 'string' ? x : JSON.stringify(x);
  if (s === undefined)
    return '';
  return s.length > SHORT_PAYLOAD_CHARS ? s.slice(0, SHORT_PAYLOAD_CHARS) + '…' : s;
}

// Parses one OCPP-J frame into its parts; never throws.
function parseFrame(raw) {
  let v;
  try {
    v = JSON.parse(raw);
  } catch {
    return { type: 'INVALID', why: 'not JSON' };
  }
  if (!Array.isArray(v) || typeof v[1] !== 'string')
    return { type: 'INVALID', why: 'not an OCPP-J array', frame: v };
  switch (v[0]) {
  case 2:
    return { type: 'CALL', messageId: v[1], action: v[2], params: v[3], frame: v };
  case 3:
    return { type: 'CALLRESULT', messageId: v[1], result: v[2], frame: v };
  case 4:
    return {
      type: 'CALLERROR', messageId: v[1], errorCode: v[2],
      errorDescription: v[3], errorDetails: v[4], frame: v,
    };
  default:
    return { type: 'INVALID', why: 'unknown message type', messageId: v[1], frame: v };
  }
}

function offeredProtocols(header) {
  if (typeof header !== 'string')
    return [];
  return header.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

// Writes a plain HTTP refusal on a socket that asked for an upgrade.
function refuseUpgrade(socket, status, text) {
  if (socket.writable) {
    const body = text || http.STATUS_CODES[status] || '';
    socket.write(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n` +
      'Connection: close\r\nContent-Type: text/plain\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }
  socket.destroy();
}

function passwordMatches(given, expected) {
  if (!given)
    return false;
  const a = Buffer.isBuffer(given) ? given : Buffer.from(String(given), 'utf8');
  const b = Buffer.isBuffer(expected) ? expected : Buffer.from(String(expected), 'utf8');
  // length is not secret here (a test server); content is compared in constant time
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

function normPath(p) {
  if (p === undefined || p === null)
    return '/ocpp';
  let s = String(p);
  if (!s.startsWith('/'))
    s = '/' + s;
  while (s.length > 1 && s.endsWith('/'))
    s = s.slice(0, -1);
  return s;
}

class Csms extends EventEmitter {
  constructor(opts) {
    super();
    this.host = opts.host ?? '127.0.0.1';
    this.path = normPath(opts.path);
    this.identities = opts.identities ? new Set(opts.identities) : null;
    this.basicAuth = opts.basicAuth ?? null;
    this.tlsOpts = opts.tls ?? null;
    this.heartbeatInterval = opts.heartbeatInterval ?? HEARTBEAT_DEFAULT_S;
    this.callTimeoutMs = opts.callTimeoutMs ?? CALL_TIMEOUT_DEFAULT_MS;
    this.dataTransferVendors = new Set(opts.dataTransferVendors ?? [VENDOR_ID]);
    this.bootStatus = opts.bootStatus ?? 'Accepted';
    this._log = typeof opts.log === 'function' ? opts.log : null;
    this._logFile = opts.logFile ? fs.openSync(opts.logFile, 'a') : null;

    this.messages = [];            // every frame, both directions
    this.connections = [];         // connect / disconnect / refused records
    this.validationFailures = [];  // ocpp-rpc strictValidationFailure events
    this.badMessages = [];         // frames ocpp-rpc could not place (besides sendRaw replies)
    this.violations = [];          // charge point broke "one CALL in flight"
    this.transactions = new Map(); // transactionId -> {identity, connectorId, idTag, ...}
    this.statuses = new Map();     // identity -> Map(connectorId -> last StatusNotification)
    this.idTags = new Map();       // idTag -> idTagInfo
    this.bootStatusFor = new Map(); // identity -> bootStatus override

    this._all = [];
    this._seq = 0;
    this._nextTransactionId = opts.firstTransactionId ?? 1;
    this._handlers = new Map();
    this._conns = new Map();       // identity -> current connection
    this._waiters = new Set();
    this._sockets = new Set();
    this._awayUntil = 0;
    this._awayTimer = null;
    this._stopped = false;

    this._rpc = new RPCServer({
      protocols: [SUBPROTOCOL],
      strictMode: true,
      callTimeoutMs: this.callTimeoutMs,
      pingIntervalMs: opts.pingIntervalMs ?? 30000,
      respondWithDetailedErrors: false,
      callConcurrency: 1,
    });
    this._rpc.auth((accept, reject, handshake) => this._auth(accept, reject, handshake));
    this._rpc.on('client', (client) => this._onClient(client));
    this._rpc.on('error', (err) => this._say(`! server error: ${err.message}`));
  }

  set bootStatus(s) {
    if (!BOOT_STATUSES.includes(s))
      throw new TypeError(`bootStatus must be one of ${BOOT_STATUSES.join(', ')}`);
    this._bootStatus = s;
  }

  get bootStatus() {
    return this._bootStatus;
  }

  get url() {
    const scheme = this.tlsOpts ? 'wss' : 'ws';
    const base = this.path === '/' ? '' : this.path;
    return `${scheme}://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}${base}`;
  }

  async _listen(port) {
    const onRequest = (req, res) => {
      res.statusCode = 404;
      res.end();
    };
    if (this.tlsOpts) {
      const t = this.tlsOpts;
      this._http = https.createServer({
        key: t.key, cert: t.cert, ca: t.ca,
        requestCert: !!t.requestCert,
        rejectUnauthorized: !!t.requestCert,
      }, onRequest);
      this._http.on('tlsClientError', (err, sock) => {
        this._refused(null, 0, `TLS: ${err.code || err.message}`,
          sock?.remoteAddress, []);
      });
    } else {
      this._http = http.createServer(onRequest);
    }
    this._http.on('connection', (sock) => {
      this._sockets.add(sock);
      sock.once('close', () => this._sockets.delete(sock));
    });
    this._http.on('upgrade', (req, socket, head) => this._onUpgrade(req, socket, head));
    await new Promise((resolve, reject) => {
      this._http.once('error', reject);
      this._http.listen(port, this.host, () => {
        this._http.off('error', reject);
        resolve();
      });
    });
    this.port = this._http.address().port;
    this._say(`listening on ${this.url}`);
  }

  // Everything ocpp-rpc would let through but a strict test CSMS must not:
  // a wrong path, an unknown identity, a client without ocpp1.6, an outage.
  _onUpgrade(req, socket, head) {
    socket.on('error', () => {});
    let url, identity, endpoint;
    try {
      // parsed the way ocpp-rpc parses it, so both see the same identity
      url = new URL('http://localhost' + (req.url || '/'));
      const parts = url.pathname.split('/');
      identity = decodeURIComponent(parts.pop());
      endpoint = normPath(parts.join('/') || '/');
    } catch {
      this._refused(null, 400, 'malformed URL', req.socket.remoteAddress, []);
      return refuseUpgrade(socket, 400, 'malformed URL');
    }
    const offered = offeredProtocols(req.headers['sec-websocket-protocol']);
    const refuse = (status, why) => {
      this._refused(identity, status, why, req.socket.remoteAddress, offered);
      refuseUpgrade(socket, status, why);
    };
    if (this._stopped)
      return refuse(503, 'stopped');
    if (endpoint !== this.path || identity === '')
      return refuse(404, `no endpoint ${url.pathname}`);
    if (this.identities && !this.identities.has(identity))
      return refuse(404, `unknown identity ${identity}`);
    if (Date.now() < this._awayUntil)
      return refuse(503, 'going away');
    // ocpp-rpc turns strict mode off for a client without the subprotocol: refuse it here
    if (!offered.includes(SUBPROTOCOL))
      return refuse(400, `subprotocol ${SUBPROTOCOL} not offered`);
    this._rpc.handleUpgrade(req, socket, head).catch((err) => {
      this._refused(identity, 500, err.message, req.socket.remoteAddress, offered);
      refuseUpgrade(socket, 500, 'upgrade failed');
    });
  }

  _auth(accept, reject, handshake) {
    const identity = handshake.identity;
    const offered = [...handshake.protocols];
    const addr = handshake.remoteAddress;
    if (!handshake.protocols.has(SUBPROTOCOL)) {   // checked in _onUpgrade too
      this._refused(identity, 400, 'no subprotocol', addr, offered);
      return reject(400, 'subprotocol required');
    }
    const session = { auth: [], offered };
    const sock = handshake.request.socket;
    if (this.tlsOpts) {
      session.auth.push('tls');
      const cert = typeof sock.getPeerCertificate === 'function' ? sock.getPeerCertificate() : null;
      if (cert && cert.subject) {
        session.clientCert = { subject: cert.subject, issuer: cert.issuer, serialNumber: cert.serialNumber };
        if (sock.authorized)
          session.auth.push('client-cert');
      }
      const names = this.tlsOpts.clientCommonNames;
      if (names && identity in names &&
          session.clientCert?.subject?.CN !== names[identity]) {
        this._refused(identity, 401, 'client certificate CN mismatch', addr, offered);
        return reject(401, 'Unauthorized');
      }
    }
    if (this.basicAuth) {
      const expected = Object.prototype.hasOwnProperty.call(this.basicAuth, identity)
        ? this.basicAuth[identity] : undefined;
      const authHeader = handshake.headers.authorization;
      if (expected === undefined || !passwordMatches(handshake.password, expected)) {
        this._refused(identity, 401,
          authHeader ? 'wrong Basic credentials' : 'no Basic credentials', addr, offered);
        return reject(401, 'Unauthorized');
      }
      session.auth.push('basic');
    } else if (handshake.headers.authorization) {
      session.auth.push('basic-unchecked');
    }
    accept(session, SUBPROTOCOL);
  }

  _onClient(client) {
    const identity = client.identity;
    if (client.protocol !== SUBPROTOCOL) {
      // cannot happen after _onUpgrade; strict mode would be off, so never serve it
      client.close({ code: 1002, reason: 'subprotocol required', force: true });
      return;
    }
    const old = this._conns.get(identity);
    const conn = {
      identity, client,
      session: client.session,
      outCalls: new Map(),       // messageId -> action, for CALLs we sent
      inCalls: new Map(),        // messageId -> inbound CALL record, until answered
      responses: new Map(),      // messageId -> inbound CALLRESULT/CALLERROR record
      rawSent: new Set(),        // messageIds of frames sent with sendRaw
      rawNoId: 0,                // sendRaw frames without a readable message id
      lastRawSeq: 0,
      closed: false,
    };
    conn.closedPromise = new Promise((resolve) => { conn.resolveClosed = resolve; });
    this._conns.set(identity, conn);
    const hs = client.handshake;
    this._record(this.connections, {
      kind: 'connect', identity,
      protocol: client.protocol,
      offeredProtocols: conn.session.offered,
      auth: conn.session.auth.length ? conn.session.auth.join('+') : 'none',
      clientCert: conn.session.clientCert,
      remoteAddress: hs.remoteAddress,
    }, `connect ${identity} protocol=${client.protocol} auth=${conn.session.auth.join('+') || 'none'}`);
    if (old && !old.closed)
      old.client.close({ code: 1000, reason: 'replaced by a new connection', force: true });

    client.on('message', ({ message, outbound }) => this._onFrame(conn, String(message), outbound));
    client.on('strictValidationFailure', (ev) => {
      this._record(this.validationFailures, {
        kind: 'validation', identity,
        direction: ev.outbound ? 'out' : 'in',
        isCall: ev.isCall,
        messageId: ev.messageId,
        action: ev.method,
        params: ev.params,
        result: ev.result,
        errorCode: ev.error?.rpcErrorCode,
        error: ev.error?.message,
      }, `! validation ${ev.outbound ? 'out' : 'in'} ${identity} ${ev.method} ${ev.isCall ? 'req' : 'conf'}: ${ev.error?.message}`);
    });
    client.on('badMessage', ({ buffer, error }) => {
      const raw = String(buffer);
      const p = parseFrame(raw);
      if (p.messageId !== undefined && conn.rawSent.has(p.messageId))
        return;   // the reply to a sendRaw frame: expected, read with waitRaw
      if ((p.type === 'CALLERROR' || p.type === 'CALLRESULT') && conn.rawNoId > 0) {
        conn.rawNoId--;   // the reply to a sendRaw frame that had no readable id
        return;
      }
      this._record(this.badMessages, {
        kind: 'bad', identity, raw, error: error?.message, errorCode: error?.rpcErrorCode,
      }, `! bad message from ${identity}: ${error?.message}`);
    });
    client.on('close', ({ code, reason }) => {
      conn.closed = true;
      if (this._conns.get(identity) === conn)
        this._conns.delete(identity);
      this._record(this.connections, {
        kind: 'disconnect', identity, code, reason: String(reason ?? ''),
      }, `disconnect ${identity} code=${code} ${reason ?? ''}`);
      conn.resolveClosed();
    });
    for (const action of new Set([...CP_ACTIONS, ...this._handlers.keys()]))
      this._bind(conn, action);
  }

  _bind(conn, action) {
    conn.client.handle(action, (ctx) => this._dispatch(conn, action, ctx));
  }

  // Runs the test's handler or the default, and sends a CALLERROR itself so
  // that its code goes on the wire exactly as given (ocpp-rpc rewrites two).
  async _dispatch(conn, action, { messageId, params, signal }) {
    const fn = this._handlers.get(action) ?? DEFAULTS[action];
    if (!fn)
      throw new ocppRpc.RPCNotImplementedError(`${action} not implemented`);
    let result;
    try {
      const aborted = new Promise((resolve) => {
        signal.addEventListener('abort', () => resolve(NOREPLY), { once: true });
      });
      result = await Promise.race([
        fn.call(this, { identity: conn.identity, action, params, messageId, signal, csms: this }),
        aborted,
      ]);
    } catch (err) {
      let code = 'InternalError', desc = 'handler failed', details = {};
      if (err instanceof CallError) {
        code = err.errorCode;
        desc = err.errorDescription;
        details = err.errorDetails;
      } else if (err && typeof err.rpcErrorCode === 'string') {
        code = err.rpcErrorCode;
        desc = err.message || err.rpcErrorMessage || '';
        details = err.details ?? {};
      } else {
        this._say(`! handler ${action} threw: ${err?.stack || err}`);
      }
      if (!conn.closed)
        conn.client.sendRaw(JSON.stringify([4, messageId, code, desc, details]));
      return NOREPLY;
    }
    if (result === NOREPLY) {
      conn.inCalls.delete(messageId);   // left unanswered on purpose
      return NOREPLY;
    }
    return result ?? {};
  }

  _onFrame(conn, raw, outbound) {
    const p = parseFrame(raw);
    const rec = {
      kind: 'frame', identity: conn.identity, direction: outbound ? 'out' : 'in',
      type: p.type, messageId: p.messageId, raw,
    };
    if (p.type === 'CALL') {
      rec.action = p.action;
      rec.params = p.params;
    } else if (p.type === 'CALLRESULT' || p.type === 'CALLERROR') {
      rec.action = outbound ? conn.inCalls.get(p.messageId)?.action
        : conn.outCalls.get(p.messageId);
      if (p.type === 'CALLRESULT') {
        rec.result = p.result;
      } else {
        rec.errorCode = p.errorCode;
        rec.errorDescription = p.errorDescription;
        rec.errorDetails = p.errorDetails;
      }
    } else {
      rec.why = p.why;
    }
    const arrow = outbound ? '->' : '<-';
    const what = p.type === 'CALL' ? `CALL ${p.action} ${shortText(p.params)}`
      : p.type === 'CALLRESULT' ? `CALLRESULT ${rec.action ?? '?'} ${shortText(p.result)}`
      : p.type === 'CALLERROR' ? `CALLERROR ${rec.action ?? '?'} ${p.errorCode} ${shortText(p.errorDescription)}`
      : `INVALID ${shortText(raw)}`;

    if (!outbound && p.type === 'CALL') {
      // the charge point must not start a CALL while one of its CALLs is unanswered
      if (conn.inCalls.size > 0)
        this._record(this.violations, {
          kind: 'violation', identity: conn.identity, what: 'concurrent-call',
          messageId: p.messageId, action: p.action,
          pending: [...conn.inCalls.keys()],
        }, `! ${conn.identity} sent ${p.action} while ${conn.inCalls.size} CALL(s) unanswered`);
      conn.inCalls.set(p.messageId, rec);
    }
    if (outbound && p.type === 'CALL')
      conn.outCalls.set(p.messageId, p.action);
    if (!outbound && (p.type === 'CALLRESULT' || p.type === 'CALLERROR'))
      conn.responses.set(p.messageId, rec);
    this._record(this.messages, rec, `${arrow} ${conn.identity} ${what}`);
    if (outbound && (p.type === 'CALLRESULT' || p.type === 'CALLERROR')) {
      const call = conn.inCalls.get(p.messageId);
      if (call) {
        call.response = rec;
        conn.inCalls.delete(p.messageId);
        this._notify();
      }
    }
  }

  _refused(identity, status, reason, remoteAddress, offered) {
    this._record(this.connections, {
      kind: 'refused', identity, status, reason, remoteAddress, offeredProtocols: offered,
    }, `refused ${identity ?? '?'} ${status || ''} ${reason}`);
  }

  _record(list, rec, line) {
    rec.seq = ++this._seq;
    rec.time = nowIso();
    list.push(rec);
    this._all.push(rec);
    if (line)
      this._say(line);
    if (this._logFile !== null) {
      try {
        fs.writeSync(this._logFile, JSON.stringify(rec) + '\n');
      } catch { /* a full disk must not stop the test CSMS */ }
    }
    this.emit('record', rec);
    this._notify();
  }

  _say(line) {
    if (this._log)
      this._log(line);
  }

  _notify() {
    for (const w of [...this._waiters])
      w.check();
  }

  // Waits until match(record) returns a value for some record with seq > since
  // (or until done() for records already matched); the generic waiter.
  _waitRecord(match, { since = 0, timeoutMs = WAIT_TIMEOUT_DEFAULT_MS, label = 'record', ready } = {}) {
    return new Promise((resolve, reject) => {
      let cursor = this._all.findIndex((r) => r.seq > since);
      if (cursor < 0)
        cursor = this._all.length;
      const candidates = [];
      const w = {
        check: () => {
          for (; cursor < this._all.length; cursor++) {
            const r = this._all[cursor];
            let hit;
            try {
              hit = match(r);
            } catch (err) {   // a broken predicate fails its own wait, nothing else
              w.fail(err);
              return;
            }
            if (hit)
              candidates.push(r);
          }
          const hit = candidates.find((r) => !ready || ready(r));
          if (hit) {
            finish();
            resolve(hit);
          }
        },
        fail: (err) => {
          finish();
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        const seen = this.messages.slice(-8).map((r) =>
          `${r.direction} ${r.identity} ${r.type} ${r.action ?? ''}`).join('; ');
        w.fail(new Error(`timed out after ${timeoutMs} ms waiting for ${label}` +
          ` (last frames: ${seen || 'none'})`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this._waiters.delete(w);
      };
      this._waiters.add(w);
      w.check();
    });
  }

  // ---- public API -------------------------------------------------------

  // Overrides the answer to one charge-point-initiated action (null restores
  // the default). fn({identity, action, params, messageId, signal, csms})
  // returns the .conf payload, NOREPLY, or throws callError(code, text).
  handle(action, fn) {
    if (fn === null || fn === undefined) {
      this._handlers.delete(action);
      return this;
    }
    if (typeof fn !== 'function')
      throw new TypeError('handler must be a function');
    const isNew = !this._handlers.has(action) && !CP_ACTIONS.includes(action);
    this._handlers.set(action, fn);
    if (isNew)
      for (const conn of this._conns.values())
        this._bind(conn, action);
    return this;
  }

  setIdTag(idTag, statusOrInfo) {
    const info = typeof statusOrInfo === 'string' ? { status: statusOrInfo } : { ...statusOrInfo };
    if (!IDTAG_STATUSES.includes(info.status))
      throw new TypeError(`idTag status must be one of ${IDTAG_STATUSES.join(', ')}`);
    this.idTags.set(idTag, info);
    return this;
  }

  idTagInfo(idTag) {
    return { ...(this.idTags.get(idTag) ?? { status: 'Accepted' }) };
  }

  setBootStatus(status, identity) {
    if (!BOOT_STATUSES.includes(status))
      throw new TypeError(`bootStatus must be one of ${BOOT_STATUSES.join(', ')}`);
    if (identity === undefined)
      this.bootStatus = status;
    else
      this.bootStatusFor.set(identity, status);
    return this;
  }

  // The sequence number of the last record: pass as {since} to wait only for newer ones.
  mark() {
    return this._seq;
  }

  isConnected(identity) {
    const c = this._conns.get(identity);
    return !!c && !c.closed;
  }

  // CALLs received from charge points, oldest first.
  received(action, { identity, since = 0 } = {}) {
    return this.messages.filter((r) => r.direction === 'in' && r.type === 'CALL' &&
      (action === undefined || action === null || action === '*' || r.action === action) &&
      (identity === undefined || r.identity === identity) && r.seq > since);
  }

  // Resolves with the first received CALL of this action (any action for
  // '*' or null) matching predicate(record), including ones that arrived
  // before; {onlyNew: true} or {since: mark} restricts to newer ones;
  // {replied: true} also waits until our answer is sent (record.response).
  waitFor(action, predicate, timeoutMs, opts = {}) {
    if (typeof predicate === 'number') {
      opts = typeof timeoutMs === 'object' && timeoutMs !== null ? timeoutMs : opts;
      timeoutMs = predicate;
      predicate = undefined;
    } else if (predicate && typeof predicate === 'object') {
      opts = predicate;
      predicate = opts.predicate;
      timeoutMs = opts.timeoutMs;
    } else if (timeoutMs && typeof timeoutMs === 'object') {
      opts = timeoutMs;
      timeoutMs = opts.timeoutMs;
    }
    const since = opts.onlyNew ? this._seq : (opts.since ?? 0);
    const any = action === undefined || action === null || action === '*';
    return this._waitRecord((r) => r.kind === 'frame' && r.direction === 'in' && r.type === 'CALL' &&
      (any || r.action === action) &&
      (opts.identity === undefined || r.identity === opts.identity) &&
      (!predicate || predicate(r)), {
      since, timeoutMs: timeoutMs ?? WAIT_TIMEOUT_DEFAULT_MS,
      label: `CALL ${any ? '*' : action}`,
      ready: opts.replied ? (r) => r.response !== undefined : undefined,
    });
  }

  // Resolves with the connect record of identity (any identity if undefined).
  waitConnected(identity, { since, onlyNew, timeoutMs } = {}) {
    return this._waitRecord((r) => r.kind === 'connect' &&
      (identity === undefined || r.identity === identity), {
      since: onlyNew ? this._seq : (since ?? 0), timeoutMs,
      label: `connection of ${identity ?? 'any charge point'}`,
    });
  }

  waitDisconnected(identity, { since, onlyNew, timeoutMs } = {}) {
    return this._waitRecord((r) => r.kind === 'disconnect' &&
      (identity === undefined || r.identity === identity), {
      since: onlyNew ? this._seq : (since ?? 0), timeoutMs,
      label: `disconnect of ${identity ?? 'any charge point'}`,
    });
  }

  // The generic wait: resolves with the first record of any kind (frame,
  // connect, disconnect, refused, validation, bad, violation) for which
  // predicate(record) is true, from {since} (default: all) or {onlyNew}.
  waitRecord(predicate, { since, onlyNew, timeoutMs, label = 'record' } = {}) {
    return this._waitRecord(predicate, {
      since: onlyNew ? this._seq : (since ?? 0), timeoutMs, label,
    });
  }

  // Every record of every kind, in arrival order (read-only).
  get records() {
    return this._all;
  }

  // Resolves with the next refused-connection record (identity null for a
  // failed TLS handshake; undefined matches any).
  waitRefused(identity, { since, onlyNew, timeoutMs } = {}) {
    return this._waitRecord((r) => r.kind === 'refused' &&
      (identity === undefined || r.identity === identity), {
      since: onlyNew ? this._seq : (since ?? 0), timeoutMs,
      label: `refusal of ${identity ?? 'any client'}`,
    });
  }

  _conn(identity) {
    const conn = this._conns.get(identity);
    if (!conn || conn.closed)
      throw new Error(`charge point ${identity} is not connected`);
    return conn;
  }

  // Sends a CALL through ocpp-rpc (validated against the .req schema before it
  // leaves, and the answer against the .conf schema). Returns the CALLRESULT
  // payload, or a CallError carrying the code exactly as it came on the wire.
  // Throws on timeout (err.name 'TimeoutError'), disconnect, an invalid
  // outbound payload, or an answer that fails validation
  // (err.name 'StrictValidationError', also in csms.validationFailures).
  async call(identity, action, params, { timeoutMs } = {}) {
    const conn = this._conn(identity);
    const p = params && typeof params === 'object' && !Array.isArray(params) ? { ...params } : params;
    const ctx = {};
    const onCall = ({ outbound, payload }) => {
      if (outbound && payload[3] === p && ctx.messageId === undefined)
        ctx.messageId = payload[1];
    };
    conn.client.on('call', onCall);
    try {
      return await conn.client.call(action, p, { callTimeoutMs: timeoutMs ?? this.callTimeoutMs });
    } catch (err) {
      const rsp = ctx.messageId !== undefined ? conn.responses.get(ctx.messageId) : undefined;
      if (rsp && rsp.type === 'CALLERROR')
        return new CallError(rsp.errorCode, rsp.errorDescription, rsp.errorDetails, rsp.raw);
      if (rsp && rsp.type === 'CALLRESULT') {
        const e = new Error(`${action} answer from ${identity} failed validation: ${err.message}`);
        e.name = 'StrictValidationError';
        e.rpcErrorCode = err.rpcErrorCode;
        e.result = rsp.result;
        e.raw = rsp.raw;
        throw e;
      }
      if (err && err.constructor && err.constructor.name === 'TimeoutError') {
        const e = new Error(`${action} to ${identity}: no answer within ${timeoutMs ?? this.callTimeoutMs} ms`);
        e.name = 'TimeoutError';
        throw e;
      }
      throw err;
    } finally {
      conn.client.off('call', onCall);
      if (ctx.messageId !== undefined)
        conn.responses.delete(ctx.messageId);
    }
  }

  // Sends text as it is (malformed JSON, invalid payloads, unknown ids).
  sendRaw(identity, text) {
    const conn = this._conn(identity);
    const p = parseFrame(String(text));
    if (p.messageId !== undefined)
      conn.rawSent.add(p.messageId);
    else
      conn.rawNoId++;
    conn.lastRawSeq = this._seq;
    conn.lastRawId = p.messageId;
    conn.client.sendRaw(String(text));
  }

  // Resolves with the raw text of the first frame from identity received
  // after the last sendRaw to it (or after {since}) that matches
  // predicate(raw, parsedFrameOrUndefined); by default, the frame with the
  // same message id as the last sendRaw frame, or any frame when that had none.
  waitRaw(identity, predicate, timeoutMs, { since } = {}) {
    if (typeof predicate === 'number') {
      timeoutMs = predicate;
      predicate = undefined;
    }
    const conn = this._conns.get(identity);
    const from = since ?? conn?.lastRawSeq ?? 0;
    const wantId = conn?.lastRawId;
    const match = predicate
      ? (r) => predicate(r.raw, parseFrame(r.raw).frame)
      : (r) => wantId === undefined || r.messageId === wantId;
    return this._waitRecord((r) => r.kind === 'frame' && r.direction === 'in' &&
      r.identity === identity && match(r), {
      since: from, timeoutMs: timeoutMs ?? WAIT_TIMEOUT_DEFAULT_MS,
      label: `raw frame from ${identity}`,
    }).then((r) => r.raw);
  }

  // Closes every connection (1001 Going Away) and refuses upgrades with 503
  // for ms; resolves once all are closed, with {reopened} that resolves when
  // connections are accepted again.
  async goAway(ms) {
    this._awayUntil = Date.now() + ms;
    clearTimeout(this._awayTimer);
    const reopened = new Promise((resolve) => {
      this._awayTimer = setTimeout(() => {
        this._awayTimer = null;
        this._say('accepting connections again');
        resolve();
      }, ms);
    });
    this._say(`going away for ${ms} ms`);
    await Promise.all([...this._conns.values()].map((c) => this._closeConn(c, 1001, 'going away')));
    return { reopened };
  }

  async _closeConn(conn, code, reason) {
    if (conn.closed)
      return;
    const cut = setTimeout(() => conn.client.close({ force: true }), CLOSE_GRACE_MS);
    conn.client.close({ code, reason }).catch(() => {});
    await conn.closedPromise;
    clearTimeout(cut);
  }

  // Cuts one charge point's TCP connection without a close frame (a lost
  // network); with {graceful: true} sends a close frame (1000) instead.
  async dropConnection(identity, { graceful = false, code = 1000 } = {}) {
    const conn = this._conns.get(identity);
    if (!conn || conn.closed)
      return false;
    if (graceful)
      await this._closeConn(conn, code, 'closed by test CSMS');
    else {
      conn.client.close({ force: true });
      await conn.closedPromise;
    }
    return true;
  }

  async stop() {
    if (this._stopped)
      return;
    this._stopped = true;
    clearTimeout(this._awayTimer);
    for (const w of [...this._waiters])
      w.fail(new Error('test CSMS stopped'));
    const conns = [...this._conns.values()];
    for (const c of conns)
      c.client.close({ force: true });
    await Promise.all(conns.map((c) => c.closedPromise));
    await this._rpc.close({ force: true }).catch(() => {});
    await new Promise((resolve) => {
      this._http.close(() => resolve());
      for (const s of this._sockets)
        s.destroy();
    });
    if (this._logFile !== null) {
      fs.closeSync(this._logFile);
      this._logFile = null;
    }
    this._say('stopped');
  }
}

// Default answers. `this` is the Csms.
const DEFAULTS = {
  BootNotification({ identity }) {
    return {
      status: this.bootStatusFor.get(identity) ?? this.bootStatus,
      currentTime: nowIso(),
      interval: this.heartbeatInterval,
    };
  },
  Heartbeat() {
    return { currentTime: nowIso() };
  },
  StatusNotification({ identity, params }) {
    if (!this.statuses.has(identity))
      this.statuses.set(identity, new Map());
    this.statuses.get(identity).set(params.connectorId, { ...params, receivedAt: nowIso() });
    return {};
  },
  Authorize({ params }) {
    return { idTagInfo: this.idTagInfo(params.idTag) };
  },
  StartTransaction({ identity, params }) {
    const transactionId = this._nextTransactionId++;
    const idTagInfo = this.idTagInfo(params.idTag);
    this.transactions.set(transactionId, {
      transactionId, identity,
      connectorId: params.connectorId, idTag: params.idTag,
      meterStart: params.meterStart, startTimestamp: params.timestamp,
      idTagStatus: idTagInfo.status,
    });
    return { transactionId, idTagInfo };
  },
  StopTransaction({ identity, params }) {
    const tx = this.transactions.get(params.transactionId);
    if (tx && tx.identity === identity) {
      tx.meterStop = params.meterStop;
      tx.stopTimestamp = params.timestamp;
      tx.reason = params.reason ?? 'Local';
    }
    return params.idTag !== undefined ? { idTagInfo: this.idTagInfo(params.idTag) } : {};
  },
  MeterValues() {
    return {};
  },
  DataTransfer({ params }) {
    return { status: this.dataTransferVendors.has(params.vendorId) ? 'Accepted' : 'UnknownVendorId' };
  },
  DiagnosticsStatusNotification() {
    return {};
  },
  FirmwareStatusNotification() {
    return {};
  },
  SecurityEventNotification() {
    return {};
  },
  SignCertificate() {
    return { status: 'Accepted' };
  },
  LogStatusNotification() {
    return {};
  },
  SignedFirmwareStatusNotification() {
    return {};
  },
};

export async function startCsms(opts = {}) {
  const csms = new Csms(opts);
  await csms._listen(opts.port ?? 0);
  return csms;
}

// ---- CLI ----------------------------------------------------------------

const USAGE = `usage: node sim/csms/csms.mjs [--port N] [--host ADDR] [--path /ocpp]
       [--heartbeat S] [--boot-status Accepted|Pending|Rejected]
       [--identity ID]... [--basic-auth ID:PASSWORD]...
       [--tls-key F --tls-cert F [--tls-ca F --require-client-cert]]
       [--log-file FILE]`;

function parseArgs(argv) {
  const o = { port: 9000, identities: [], basicAuth: {}, tls: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length)
        throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    const int = () => {
      const s = val();
      if (!/^\d+$/.test(s))
        throw new Error(`${a} needs a whole number, got '${s}'`);
      return Number(s);
    };
    switch (a) {
    case '--port': o.port = int(); break;
    case '--host': o.host = val(); break;
    case '--path': o.path = val(); break;
    case '--heartbeat': o.heartbeatInterval = int(); break;
    case '--boot-status': o.bootStatus = val(); break;
    case '--identity': o.identities.push(val()); break;
    case '--basic-auth': {
      const s = val();
      const k = s.indexOf(':');
      if (k <= 0)
        throw new Error('--basic-auth needs ID:PASSWORD');
      o.basicAuth[s.slice(0, k)] = s.slice(k + 1);
      break;
    }
    case '--tls-key': o.tls.key = fs.readFileSync(val()); break;
    case '--tls-cert': o.tls.cert = fs.readFileSync(val()); break;
    case '--tls-ca': o.tls.ca = fs.readFileSync(val()); break;
    case '--require-client-cert': o.tls.requestCert = true; break;
    case '--log-file': o.logFile = val(); break;
    case '-h': case '--help':
      process.stdout.write(USAGE + '\n');
      process.exit(0);
      break;
    default:
      throw new Error(`unknown argument '${a}'`);
    }
  }
  if (o.identities.length === 0)
    delete o.identities;
  if (Object.keys(o.basicAuth).length === 0)
    delete o.basicAuth;
  if (Object.keys(o.tls).length === 0)
    delete o.tls;
  else if (!o.tls.key || !o.tls.cert)
    throw new Error('TLS needs both --tls-key and --tls-cert');
  return o;
}

async function main(argv) {
  let opts;
  try {
    opts = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`csms: ${err.message}\n${USAGE}\n`);
    process.exit(2);
  }
  process.stdout.on('error', () => {});   // a closed pipe must not kill the CSMS
  opts.log = (line) => process.stdout.write(line + '\n');
  const csms = await startCsms(opts);
  process.stdout.write(`READY port=${csms.port}\n`);
  let stopping = false;
  const stop = async (sig) => {
    if (stopping)
      return;
    stopping = true;
    process.stdout.write(`got ${sig}, stopping\n`);
    await csms.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function isMain() {
  if (!process.argv[1])
    return false;
  try {
    const self = decodeURIComponent(new URL(import.meta.url).pathname);
    return fs.realpathSync(process.argv[1]) === fs.realpathSync(self);
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`csms: ${err.stack || err}\n`);
    process.exit(1);
  });
}

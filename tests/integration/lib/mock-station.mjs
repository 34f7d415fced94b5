// mock-station.mjs: a station's wallet endpoint written from
// docs/wallet-protocol.md alone, for testing wattstream-wallet without the
// daemon.  It signs a real offer and real receipts (EIP-712, ethers), reads
// channels on-chain, verifies vouchers as the protocol says, and simulates
// energy: while the allowance covers it, `stepMwh` flows every `tickMs`.
// Every frame both ways is recorded in `station.log` ({dir, t, msg}) so a
// test can assert what the wallet put on the wire.
// Tampering knobs (`tamper`) make it misbehave on purpose so the wallet's
// checks can be tested.  Cost: one timer per live session; loopback only.
import https from 'node:https';
import { createRequire } from 'node:module';
import path from 'node:path';

const SOURCE_ROOT = process.env.WS_SOURCE_ROOT ??
  path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');
const require = createRequire(path.join(SOURCE_ROOT, 'contracts', 'package.json'));
const { Contract, JsonRpcProvider, Signature, TypedDataEncoder, Wallet, getAddress, recoverAddress } =
  require('ethers');
const { WebSocketServer } = require('ws');

export const SUBPROTOCOL = 'wattstream.wallet.1';
const N_HALF = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

export const OFFER_TYPES = {
  Offer: [
    { name: 'station', type: 'address' }, { name: 'payee', type: 'address' },
    { name: 'token', type: 'address' }, { name: 'pricePerKWh', type: 'uint256' },
    { name: 'incrementWh', type: 'uint32' }, { name: 'prepaidIncrements', type: 'uint32' },
    { name: 'graceSeconds', type: 'uint32' }, { name: 'validFrom', type: 'uint64' },
    { name: 'validUntil', type: 'uint64' }, { name: 'location', type: 'string' },
    { name: 'endpoint', type: 'string' }, { name: 'nonce', type: 'uint64' },
  ],
};
export const VOUCHER_TYPES = { Voucher: [{ name: 'channelId', type: 'bytes32' }, { name: 'amount', type: 'uint256' }] };
export const RECEIPT_TYPES = {
  Receipt: [
    { name: 'channelId', type: 'bytes32' }, { name: 'sessionId', type: 'bytes32' },
    { name: 'seq', type: 'uint64' }, { name: 'meterStartMwh', type: 'uint64' },
    { name: 'meterMwh', type: 'uint64' }, { name: 'deliveredMwh', type: 'uint64' },
    { name: 'amountDue', type: 'uint256' }, { name: 'paid', type: 'uint256' },
    { name: 'timestamp', type: 'uint64' }, { name: 'final', type: 'bool' },
  ],
};

const ceilDiv = (a, b) => (a + b - 1n) / b;

/** Money for mWh at price (base units per kWh): ceil(mWh * price / 10^6). */
export const priceOf = (mwh, price) => ceilDiv(BigInt(mwh) * BigInt(price), 1000000n);

/**
 * Builds the offer object (all numbers as the protocol's JSON wants them) and
 * its signature by stationKey.  Returns {offer (with signature), tuple} where
 * tuple is what OfferRegistry.publish takes.
 */
export function makeOffer({ chainId, registry, stationKey, payee, token, pricePerKWh = 300000n,
  incrementWh = 100, prepaidIncrements = 1, graceSeconds = 2, endpoint, nonce = 1n,
  validFrom, validUntil, location = 'u33db2' }) {
  const station = new Wallet(stationKey);
  const now = Math.floor(Date.now() / 1000);
  const o = {
    station: station.address, payee: getAddress(payee), token: getAddress(token),
    pricePerKWh: BigInt(pricePerKWh), incrementWh, prepaidIncrements, graceSeconds,
    validFrom: BigInt(validFrom ?? now - 60), validUntil: BigInt(validUntil ?? now + 3600),
    location, endpoint, nonce: BigInt(nonce),
  };
  const domain = { name: 'Wattstream Offers', version: '1', chainId, verifyingContract: registry };
  const signature = station.signingKey.sign(TypedDataEncoder.hash(domain, OFFER_TYPES, o)).serialized;
  const json = {
    ...o, pricePerKWh: o.pricePerKWh.toString(), validFrom: Number(o.validFrom),
    validUntil: Number(o.validUntil), nonce: o.nonce.toString(), signature,
  };
  return { offer: json, tuple: o, signature };
}

/**
 * startMockStation({deployment, rpcUrl, stationKey, offer, ...}) → station
 *   offer: the JSON offer from makeOffer (sent as is in hello)
 *   tickMs, stepMwh: energy simulation
 *   endAfterMwh: end the session with reason "ev" at this delivered energy
 *   graceMs: grace time (default offer.graceSeconds * 1000)
 *   minDeposit: decimal string
 *   tamper: { offerSignature, offerPrice, receiptSignatureAtSeq, receiptAmountAtSeq,
 *             receiptMeterAtSeq, receiptMalformedAtSeq, receiptHighSAtSeq,
 *             invoiceOvercharge, noSubprotocol, helloRaw (+ helloBinary), hello: {fields},
 *             dropFirstAfterMs (close the first connection then, if no session),
 *             laterOffer (the offer sent on connections after the first) }
 *   memory: { highest: Map, bills: Map } kept across mock stations (default: fresh)
 *   tls: { key, cert } (PEM): serve wss:// for the host name `localhost`
 * station = { url, port, log, sessions, close(), waitFor(pred, ms) }
 */
export async function startMockStation({ deployment, rpcUrl, stationKey, offer, tickMs = 20,
  stepMwh = 10000, endAfterMwh = 0, graceMs, minDeposit = '1000000', tamper = {},
  meterStartMwh = 1234500000, memory = { highest: new Map(), bills: new Map() }, tls }) {
  const provider = new JsonRpcProvider(rpcUrl, deployment.chainId, { staticNetwork: true });
  const channels = new Contract(deployment.contracts.channels.address,
    deployment.contracts.channels.abi, provider);
  const stationWallet = new Wallet(stationKey);
  const stranger = Wallet.createRandom();
  const chainId = deployment.chainId;
  const voucherDomain = { name: 'Wattstream', version: '1', chainId, verifyingContract: channels.target };
  const receiptDomain = { name: 'Wattstream Receipts', version: '1', chainId, verifyingContract: channels.target };
  const price = BigInt(offer.pricePerKWh);
  const incMwh = BigInt(offer.incrementWh) * 1000n;
  const prepaid = BigInt(offer.prepaidIncrements);
  const grace = graceMs ?? offer.graceSeconds * 1000;
  const log = [];
  const listeners = new Set();
  // what a station keeps across connections; pass the same `memory` to
  // several mock stations to play one station across restarts
  const highest = memory.highest;  // channelId -> bigint (vouchers held)
  const bills = memory.bills;      // channelId -> bigint (base for the next session)
  const sessions = [];
  let meter = BigInt(meterStartMwh);
  const t0 = Date.now();

  const record = (dir, msg) => {
    log.push({ dir, t: Date.now() - t0, msg });
    for (const l of listeners) l();
  };

  const handleProtocols = (protocols) => (tamper.noSubprotocol ? false
    : protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false);
  let wss, server = null;
  if (tls) {
    server = https.createServer({ key: tls.key, cert: tls.cert });
    await new Promise((res, rej) => { server.once('error', rej); server.listen(0, '127.0.0.1', res); });
    wss = new WebSocketServer({ server, maxPayload: 4096, handleProtocols });
  } else {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 4096, handleProtocols });
    await new Promise((res, rej) => { wss.once('listening', res); wss.once('error', rej); });
  }
  const port = (server ?? wss).address().port;

  let helloOffer = offer;
  if (tamper.offerSignature) {
    // same fields, signed by someone else
    const { offer: forged } = makeOffer({
      chainId, registry: deployment.contracts.registry.address, stationKey: stranger.privateKey,
      payee: offer.payee, token: offer.token, pricePerKWh: offer.pricePerKWh,
      incrementWh: offer.incrementWh, prepaidIncrements: offer.prepaidIncrements,
      graceSeconds: offer.graceSeconds, endpoint: offer.endpoint, nonce: offer.nonce,
      validFrom: offer.validFrom, validUntil: offer.validUntil, location: offer.location });
    helloOffer = { ...offer, signature: forged.signature };
  }
  if (tamper.offerPrice) helloOffer = { ...offer, pricePerKWh: String(tamper.offerPrice) };

  let connections = 0;
  wss.on('connection', (ws) => {
    const nth = ++connections;
    const send = (m) => { record('out', m); if (ws.readyState === 1) ws.send(JSON.stringify(m)); };
    let s = null;              // the live session of this connection
    let inWindow = [];         // message times for the rate limit
    let badCount = 0;

    const err = (id, code, message) => send({ type: 'error', ...(id ? { id } : {}), code, message });

    const signReceipt = (final) => {
      const delivered = s.delivered;
      let amountDue = s.base + priceOf(delivered, price);
      const seq = s.seq++;
      if (tamper.receiptAmountAtSeq === seq) amountDue += 1n;
      const meterShift = tamper.receiptMeterAtSeq === seq ? 1n : 0n; // signed, but delivered != meter - start
      const r = {
        channelId: s.channelId, sessionId: s.id, seq, meterStartMwh: s.meterStart,
        meterMwh: s.meterStart + delivered + meterShift, deliveredMwh: delivered, amountDue,
        paid: highest.get(s.channelId) ?? 0n, timestamp: Date.now(), final,
      };
      const key = tamper.receiptSignatureAtSeq === seq ? stranger : stationWallet;
      const signature = key.signingKey.sign(TypedDataEncoder.hash(receiptDomain, RECEIPT_TYPES, r)).serialized;
      const out = {
        type: 'receipt', session: s.id, seq, channelId: s.channelId,
        meterStartMwh: Number(r.meterStartMwh), meterMwh: Number(r.meterMwh),
        deliveredMwh: Number(delivered), amountDue: amountDue.toString(), paid: r.paid.toString(),
        timestamp: r.timestamp, final, signature,
      };
      if (tamper.receiptMalformedAtSeq === seq) out.deliveredMwh = String(out.deliveredMwh);
      if (tamper.receiptHighSAtSeq === seq) {
        const sg = Signature.from(signature);
        const hs = (2n * N_HALF + 1n) - BigInt(sg.s);
        out.signature = '0x' + sg.r.slice(2) + hs.toString(16).padStart(64, '0') + (sg.v === 27 ? '1c' : '1b');
      }
      return out;
    };

    const allowance = () => {
      const paid = (highest.get(s.channelId) ?? 0n) - s.base;
      return paid <= 0n ? 0n : (paid * 1000000n) / price;
    };

    const invoice = (increments) => {
      let amount = s.base + priceOf(BigInt(increments) * incMwh, price);
      if (tamper.invoiceOvercharge) amount += BigInt(tamper.invoiceOvercharge);
      s.invoiced = BigInt(increments);
      send({ type: 'invoice', session: s.id, increments: Number(increments), amount: amount.toString(),
        deliveredMwh: Number(s.delivered), meterMwh: Number(s.meterStart + s.delivered) });
    };

    const end = (reason, id) => {
      if (!s || s.ended) return;
      s.ended = true;
      clearInterval(s.timer);
      clearTimeout(s.graceTimer);
      s.reason = reason;
      const receipt = signReceipt(true);
      bills.set(s.channelId, BigInt(receipt.amountDue));
      meter = s.meterStart + s.delivered;
      send({ type: 'ended', ...(id ? { id } : {}), session: s.id, reason, receipt });
      s = null;
    };

    const tick = () => {
      if (!s || s.ended) return;
      const allow = allowance();
      if (s.delivered >= allow) {
        if (!s.suspended) {
          s.suspended = true;
          const graceUntil = Date.now() + grace;
          send({ type: 'suspended', session: s.id, reason: 'unpaid', graceUntil });
          s.graceTimer = setTimeout(() => end('unpaid'), grace);
        }
        return;
      }
      const before = s.delivered;
      let next = before + BigInt(stepMwh);
      if (next > allow) next = allow;
      if (endAfterMwh && next > BigInt(endAfterMwh)) next = BigInt(endAfterMwh);
      s.delivered = next;
      // increments completed by this step: receipt, then the next invoice
      const kBefore = before / incMwh, kAfter = next / incMwh;
      for (let k = kBefore; k < kAfter; k++) {
        send(signReceipt(false));
        if (!(endAfterMwh && next >= BigInt(endAfterMwh))) invoice(k + 1n + prepaid);
      }
      if (endAfterMwh && next >= BigInt(endAfterMwh)) end('ev');
    };

    const onStart = async (m) => {
      if (s) return err(m.id, 'connector_busy', 'a session runs on this connection');
      if (m.connector !== 1) return err(m.id, 'unknown_connector', 'no such connector');
      let ch;
      try { ch = await channels.getChannel(m.channelId); } catch (e) {
        return err(m.id, 'chain_unavailable', String(e.shortMessage ?? e.message));
      }
      if (ch.sender === '0x0000000000000000000000000000000000000000') return err(m.id, 'channel_not_found', 'no such channel');
      if (getAddress(ch.receiver) !== getAddress(offer.payee)) return err(m.id, 'channel_wrong_receiver', 'receiver');
      if (getAddress(ch.token) !== getAddress(offer.token)) return err(m.id, 'channel_wrong_token', 'token');
      if (ch.closeRequestedAt !== 0n) return err(m.id, 'channel_closing', 'close requested');
      const held = highest.get(m.channelId) ?? 0n;
      if (ch.deposit - held < BigInt(minDeposit)) return err(m.id, 'channel_underfunded', 'deposit');
      const id = '0x' + Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex');
      s = {
        id, channelId: m.channelId, sender: ch.sender, sessionKey: ch.sessionKey, deposit: ch.deposit,
        base: bills.get(m.channelId) ?? 0n, meterStart: meter, delivered: 0n, seq: 0,
        suspended: false, ended: false, invoiced: 0n,
      };
      sessions.push(s);
      send({ type: 'session', id: m.id, session: id, connector: 1, channelId: m.channelId,
        idTag: 'WS' + id.slice(2, 18).toUpperCase(), base: s.base.toString(), highest: held.toString(),
        meterStartMwh: Number(s.meterStart) });
      invoice(prepaid);
      s.timer = setInterval(tick, tickMs);
    };

    const onVoucher = (m) => {
      if (!s || m.session !== s.id) return err(m.id, 'unknown_session', 'no such session');
      let amount;
      try { amount = BigInt(m.amount); } catch { return err(m.id, 'bad_request', 'amount'); }
      if (!/^0x[0-9a-fA-F]{130}$/.test(m.signature ?? '')) return err(m.id, 'voucher_bad_signature', 'length');
      const sig = Signature.from(m.signature);
      if (BigInt(sig.s) > N_HALF) return err(m.id, 'voucher_high_s', 'high s');
      if (m.channelId !== s.channelId) return err(m.id, 'voucher_wrong_channel', 'not the session\'s channel');
      const digest = TypedDataEncoder.hash(voucherDomain, VOUCHER_TYPES, { channelId: m.channelId, amount });
      const signer = recoverAddress(digest, m.signature);
      if (signer !== getAddress(s.sessionKey) && signer !== getAddress(s.sender)) {
        return err(m.id, 'voucher_wrong_signer', `signed by ${signer}`);
      }
      const held = highest.get(s.channelId) ?? 0n;
      if (amount <= held) return err(m.id, 'voucher_not_higher', `amount ${amount} is not above ${held}`);
      if (amount > s.deposit) return err(m.id, 'voucher_over_deposit', 'above the deposit');
      highest.set(s.channelId, amount);
      s.signer = signer;
      send({ type: 'accepted', id: m.id, session: s.id, amount: amount.toString(),
        allowanceMwh: Number(allowance()) });
      if (s.suspended && allowance() > s.delivered) {
        s.suspended = false;
        clearTimeout(s.graceTimer);
        send({ type: 'resumed', session: s.id });
      }
    };

    ws.on('message', (data, isBinary) => {
      const now = Date.now();
      inWindow = inWindow.filter((t) => now - t < 1000);
      inWindow.push(now);
      let m;
      try { m = JSON.parse(data.toString()); } catch { m = { unparsable: data.toString() }; }
      record('in', m);
      if (isBinary) return ws.close(1003);
      if (inWindow.length > 20) {
        err(m.id, 'rate_limited', 'more than 20 messages in a second');
        return ws.close(1008);
      }
      if (m.unparsable !== undefined) return ws.close(1007);
      switch (m.type) {
        case 'start': onStart(m); break;
        case 'voucher': onVoucher(m); break;
        case 'stop':
          if (!s || m.session !== s.id) return err(m.id, 'unknown_session', 'no such session');
          end('stopped', m.id);
          break;
        default:
          err(m.id, 'bad_request', `unknown type ${m.type}`);
          if (++badCount >= 5) ws.close(1008);
      }
    });
    ws.on('close', () => { if (s) { clearInterval(s.timer); clearTimeout(s.graceTimer); } });

    if (tamper.helloRaw !== undefined) {       // a malformed first frame
      record('out', { raw: String(tamper.helloRaw).slice(0, 80) });
      ws.send(tamper.helloRaw, { binary: !!tamper.helloBinary });
      return;
    }
    if (tamper.dropFirstAfterMs !== undefined && nth === 1) {
      // like a station's idle limit, cut short: close the first connection
      setTimeout(() => { if (!s) ws.close(1000); }, tamper.dropFirstAfterMs);
    }
    send({
      type: 'hello', protocol: 1, station: stationWallet.address, chainId: String(chainId),
      channels: channels.target, registry: deployment.contracts.registry.address,
      offer: nth > 1 && tamper.laterOffer ? tamper.laterOffer : helloOffer, minDeposit: String(minDeposit), maxSessionsPerChannel: 1,
      connectors: [{ connector: 1, status: 'Available' }],
      ...(tamper.hello ?? {}),
    });
  });

  return {
    url: tls ? `wss://localhost:${port}/wallet` : `ws://127.0.0.1:${port}/wallet`,
    port,
    log,
    sessions,
    connections: () => connections,
    stationAddress: stationWallet.address,
    strangerAddress: stranger.address,
    voucherDomain,
    /** messages received from the wallet, optionally of one type */
    received: (type) => log.filter((e) => e.dir === 'in' && (!type || e.msg.type === type)).map((e) => e.msg),
    sent: (type) => log.filter((e) => e.dir === 'out' && (!type || e.msg.type === type)).map((e) => e.msg),
    /** resolves once pred(log) is true */
    waitFor(pred, ms = 15000) {
      if (pred(log)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const l = () => { if (pred(log)) { listeners.delete(l); clearTimeout(t); resolve(); } };
        const t = setTimeout(() => { listeners.delete(l); reject(new Error('mock station: condition not met')); }, ms);
        listeners.add(l);
      });
    },
    async close() {
      for (const c of wss.clients) c.terminate();
      for (const s of sessions) { clearInterval(s.timer); clearTimeout(s.graceTimer); }
      await new Promise((res) => wss.close(res));
      if (server) {
        server.closeAllConnections?.();
        await new Promise((res) => server.close(res));
      }
      provider.destroy();
    },
  };
}

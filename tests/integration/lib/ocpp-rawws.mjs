// ocpp-rawws.mjs: a tiny WebSocket server in node core that completes
// the upgrade WITHOUT selecting a subprotocol (or with the one given), to
// check that the charge point refuses such a server.  It records each
// upgrade request and every byte received after the upgrade.
import crypto from 'node:crypto';
import http from 'node:http';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export async function startRawWs({ protocol = null } = {}) {
  const upgrades = [];
  const sockets = new Set();
  const server = http.createServer((req, res) => { res.writeHead(426); res.end(); });
  server.on('upgrade', (req, sock) => {
    const rec = { url: req.url, offered: req.headers['sec-websocket-protocol'] ?? null, bytesAfter: 0 };
    upgrades.push(rec);
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    sock.on('data', (d) => { rec.bytesAfter += d.length; });
    const accept = crypto.createHash('sha1').update(req.headers['sec-websocket-key'] + GUID).digest('base64');
    sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n` +
      (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') + '\r\n');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    upgrades,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

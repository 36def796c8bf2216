// The second WebSocket implementation of the interop matrix: npm's `ws` server, with the lab's Nexus stand-in
// rules (the same as gvpconf_lab.web_servers.nexus_server): the path (404), the auth header (401 missing,
// 403 wrong), the subprotocol selected when offered; echoes every message.
//   node ws_server.js --host H --port P [--cert C --key K] --token-file F --subprotocol S --path /p
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const { WebSocketServer } = require('ws');
const args = require('./args')(process.argv.slice(2));

const token = fs.readFileSync(args['token-file'], 'utf8').trim();
const expected = `Bearer ${token}`;
const path = args.path || '/';
const server = args.cert
  ? https.createServer({ cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key) })
  : http.createServer();
server.on('request', (req, res) => { res.writeHead(426, { 'Content-Type': 'text/plain' }); res.end('upgrade\n'); });

const wss = new WebSocketServer({
  server,
  perMessageDeflate: false,
  verifyClient: (info, done) => {
    if (info.req.url.split('?')[0] !== path) return done(false, 404, 'no WebSocket endpoint here');
    const got = info.req.headers.authorization;
    if (got === undefined) return done(false, 401, 'missing credentials');
    if (got !== expected) return done(false, 403, 'invalid credentials');
    return done(true);
  },
  handleProtocols: (offered) => (offered.has(args.subprotocol) ? args.subprotocol : false),
});
wss.on('connection', (ws) => { ws.on('message', (data, binary) => ws.send(data, { binary })); });
server.listen(Number(args.port), args.host, () => {
  console.log(`ws ${require('ws/package.json').version} on ${args.host}:${args.port}${path}`);
});
const stop = () => { wss.close(); server.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// The second gRPC implementation of the interop matrix: @grpc/grpc-js serving
// google.cloud.texttospeech.v1.TextToSpeech/ListVoices over TLS, with the lab's TTS stand-in rules (the same as
// gvpconf_lab.web_servers.tts_server): a bearer JWT (RS256) signed by the lab's service-account key, for the
// TextToSpeech audience, or UNAUTHENTICATED. The messages are encoded by hand (protobuf wire format): the
// service takes a ListVoicesRequest {string language_code = 1} and answers a ListVoicesResponse
// {repeated Voice voices = 1}, Voice {repeated string language_codes = 1; string name = 2;
// SsmlVoiceGender ssml_gender = 3; int32 natural_sample_rate_hertz = 4}.
//   node grpc_server.js --host H --port P --cert C --key K --public-key F [--no-service]
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const grpc = require('@grpc/grpc-js');
const args = require('./args')(process.argv.slice(2));

const AUDIENCE = 'https://texttospeech.googleapis.com/';
const VOICES = [['en-US', 'en-US-Standard-A', 2], ['en-US', 'en-US-Standard-B', 1], ['fr-FR', 'fr-FR-Standard-A', 2]];
const publicKey = args['public-key'] ? fs.readFileSync(args['public-key'], 'utf8') : null;

function varint(n) {
  const out = [];
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
  out.push(n);
  return Buffer.from(out);
}
function field(num, wire, payload) {
  if (wire === 0) return Buffer.concat([varint((num << 3) | 0), varint(payload)]);
  const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  return Buffer.concat([varint((num << 3) | 2), varint(bytes.length), bytes]);
}
function readLanguage(buf) {  // field 1 of ListVoicesRequest, "" when absent
  let i = 0;
  while (i < buf.length) {
    const key = buf[i++];
    let len = 0; let shift = 0; let b;
    do { b = buf[i++]; len |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
    if ((key & 7) !== 2) throw new Error('unexpected wire type');
    if (key >> 3 === 1) return buf.subarray(i, i + len).toString('utf8');
    i += len;
  }
  return '';
}
function b64url(s) { return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64'); }
function checkJwt(header) {
  if (!header || !header.startsWith('Bearer ')) return 'Request is missing required authentication credential.';
  const parts = header.slice(7).split('.');
  if (parts.length !== 3 || publicKey === null) return 'Request had invalid authentication credentials.';
  const ok = crypto.verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, b64url(parts[2]));
  if (!ok) return 'Request had invalid authentication credentials: bad signature.';
  const claims = JSON.parse(b64url(parts[1]).toString('utf8'));
  if (claims.aud !== AUDIENCE) return 'Request had invalid authentication credentials: audience.';
  if (!(claims.exp > Date.now() / 1000)) return 'Request had invalid authentication credentials: expired.';
  return null;
}

const service = {
  ListVoices: {
    path: '/google.cloud.texttospeech.v1.TextToSpeech/ListVoices',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b) => b,
    requestDeserialize: (b) => b,
    responseSerialize: (b) => b,
    responseDeserialize: (b) => b,
  },
};
function listVoices(call, callback) {
  const problem = checkJwt(call.metadata.get('authorization')[0]);
  if (problem) return callback({ code: grpc.status.UNAUTHENTICATED, details: problem });
  const lang = readLanguage(call.request);
  const voices = VOICES.filter(([l]) => !lang || l === lang).map(([l, name, gender]) => field(1, 2, Buffer.concat([
    field(1, 2, l), field(2, 2, name), field(3, 0, gender), field(4, 0, 24000)])));
  return callback(null, Buffer.concat(voices));
}

const server = new grpc.Server();
if (!args['no-service']) server.addService(service, { ListVoices: listVoices });
const creds = grpc.ServerCredentials.createSsl(null, [{
  cert_chain: fs.readFileSync(args.cert), private_key: fs.readFileSync(args.key) }], false);
server.bindAsync(`${args.host}:${args.port}`, creds, (err) => {
  if (err) { console.error(err.message); process.exit(1); }
  console.log(`@grpc/grpc-js ${require('@grpc/grpc-js/package.json').version} TextToSpeech on ${args.host}:${args.port}`);
});
const stop = () => server.tryShutdown(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

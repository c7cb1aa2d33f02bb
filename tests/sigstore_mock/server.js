#!/usr/bin/env node
// A local Sigstore stack for tests: Fulcio, Rekor v1 and a timestamp authority from the
// sigstore project's @sigstore/mock, served on 127.0.0.1 with a random port.
//
// The mock's handlers speak a slightly different dialect from sigstore-python 4.5.1, so
// three small adapters sit in front of them (see ../../../shared/DESIGN.md):
//   1. Fulcio: the client sends the token as `Authorization: Bearer` and the CSR as base64
//      of its PEM; the mock wants `credentials.oidcIdentityToken` and the PEM in the body.
//   2. TSA: the client posts a DER RFC 3161 TimeStampReq; the mock wants JSON.
//   3. Rekor v1 DSSE: the mock logs the proposed entry as is; a real Rekor logs the stored
//      form {envelopeHash, payloadHash, signatures}, which verifiers check against.
// Rekor v2 is not served: its mock handler has bugs, and Rekor v1 + TSA is what the
// public-good instance still offers to clients.
//
// Usage: node server.js --config-out DIR [--request-log FILE]
// Writes DIR/trust_config.json (a ClientTrustConfig v0.1) and DIR/trusted_root.json once
// the port is bound, then prints one JSON line {"url", "trustConfig", "trustedRoot"}.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');
const asn1js = require('asn1js');
const pkijs = require('pkijs');
const mock = require('@sigstore/mock');

const HASH_NAMES = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) {
      throw new Error(`bad argument ${argv[i]}`);
    }
    args[argv[i].slice(2)] = argv[i + 1];
  }
  if (!args['config-out']) throw new Error('--config-out DIR is required');
  return args;
}

const newKeyPair = () => crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const spki = (keyObject) => keyObject.export({ format: 'der', type: 'spki' });
const b64 = (bytes) => Buffer.from(bytes).toString('base64');
const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest();

// Adapter 1: Fulcio's v2 signingCert request, as sigstore-python sends it.
function fulcioBody(headers, body) {
  const auth = headers.authorization || '';
  if (!auth.startsWith('Bearer ')) {
    return { error: [401, 'missing bearer token'] };
  }
  const json = JSON.parse(body.toString('utf8'));
  const pem = Buffer.from(json.certificateSigningRequest, 'base64').toString('utf8');
  return {
    request: JSON.stringify({
      credentials: { oidcIdentityToken: auth.slice('Bearer '.length) },
      certificateSigningRequest: pem,
    }),
  };
}

// Adapter 2: RFC 3161 TimeStampReq (DER) -> the mock's JSON request.
function tsaBody(body) {
  const req = pkijs.TimeStampReq.fromBER(new Uint8Array(body));
  const imprint = req.messageImprint;
  const oid = imprint.hashAlgorithm.algorithmId;
  if (!HASH_NAMES[oid]) throw new Error(`unsupported hash algorithm ${oid}`);
  // The mock encodes the nonce from a JS number: keep 48 bits so it stays exact.
  let nonce;
  if (req.nonce) {
    const hex = Buffer.from(req.nonce.valueBlock.valueHexView).toString('hex') || '0';
    nonce = Number(BigInt(`0x${hex}`) & ((1n << 48n) - 1n));
  }
  return JSON.stringify({
    artifactHash: b64(imprint.hashedMessage.valueBlock.valueHexView),
    hashAlgorithm: HASH_NAMES[oid],
    nonce,
    certificates: req.certReq === true,
    tsaPolicyOID: req.reqPolicy,
  });
}

// Adapter 3: a proposed Rekor v1 DSSE entry -> the form Rekor stores and returns
// (https://github.com/sigstore/rekor/blob/main/pkg/types/dsse/v0.0.1/dsse_v0_0_1_schema.json).
function rekorBody(body) {
  const entry = JSON.parse(body.toString('utf8'));
  if (entry.kind !== 'dsse' || !entry.spec || !entry.spec.proposedContent) return body.toString();
  const { envelope, verifiers } = entry.spec.proposedContent;
  const env = JSON.parse(envelope);
  const payload = Buffer.from(env.payload, 'base64');
  return JSON.stringify({
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: sha256(Buffer.from(envelope)).toString('hex') },
      payloadHash: { algorithm: 'sha256', value: sha256(payload).toString('hex') },
      signatures: env.signatures.map((s, i) => ({
        signature: b64(Buffer.from(s.sig, 'base64')),
        verifier: verifiers[Math.min(i, verifiers.length - 1)],
      })),
    },
  });
}

function trustConfig(url, ca, ctlog, ctKey, tlogKey, tsa) {
  const start = new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const validFor = { start };
  const key = (der) => ({ rawBytes: b64(der), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor });
  const subject = (cn) => ({ organization: 'sigstore.mock', commonName: cn });
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [{ baseUrl: url, hashAlgorithm: 'SHA2_256', publicKey: key(spki(tlogKey.publicKey)),
              logId: { keyId: b64(sha256(spki(tlogKey.publicKey))) } }],
    certificateAuthorities: [{ subject: subject('sigstore'), uri: url,
                               certChain: { certificates: [{ rawBytes: b64(ca.rootCertificate) }] },
                               validFor }],
    ctlogs: [{ baseUrl: url, hashAlgorithm: 'SHA2_256', publicKey: key(spki(ctKey.publicKey)),
               logId: { keyId: b64(ctlog.logID) } }],
    timestampAuthorities: [{ subject: subject('tsa'), uri: `${url}/api/v1/timestamp`,
                             certChain: { certificates: [{ rawBytes: b64(tsa.intCertificate) },
                                                         { rawBytes: b64(tsa.rootCertificate) }] },
                             validFor }],
  };
  const service = (u) => ({ url: u, majorApiVersion: 1, validFor, operator: 'sigstore.mock' });
  const signingConfig = {
    mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json',
    caUrls: [service(url)],
    oidcUrls: [],
    rekorTlogUrls: [service(url)],
    tsaUrls: [service(`${url}/api/v1/timestamp`)],
    rekorTlogConfig: { selector: 'ANY' },
    tsaConfig: { selector: 'ANY' },
  };
  return {
    trustedRoot,
    clientTrustConfig: {
      mediaType: 'application/vnd.dev.sigstore.clienttrustconfig.v0.1+json',
      trustedRoot,
      signingConfig,
    },
  };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const ctKey = newKeyPair();
  const ctlog = await mock.initializeCTLog(ctKey);
  const ca = await mock.initializeCA(newKeyPair(), ctlog);
  const tsa = await mock.initializeTSA(newKeyPair());
  const fulcio = mock.fulcioHandler(ca);
  const timestamp = mock.tsaHandler(tsa);
  let rekor; // needs the URL, known once the port is bound

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (args['request-log']) {
      fs.appendFileSync(args['request-log'],
        `${JSON.stringify({ method: req.method, path: url.pathname })}\n`);
    }
    let result;
    try {
      const body = await readBody(req);
      if (req.method !== 'POST') {
        result = { statusCode: 405, response: 'only POST is served' };
      } else if (url.pathname === fulcio.path) {
        const adapted = fulcioBody(req.headers, body);
        result = adapted.error
          ? { statusCode: adapted.error[0], response: adapted.error[1] }
          : await fulcio.fn(adapted.request);
      } else if (url.pathname === timestamp.path) {
        result = await timestamp.fn(tsaBody(body));
      } else if (rekor && url.pathname === rekor.path) {
        result = await rekor.fn(rekorBody(body));
      } else {
        result = { statusCode: 404, response: `no handler for ${url.pathname}` };
      }
    } catch (e) {
      result = { statusCode: 400, response: String(e && e.message) };
    }
    res.writeHead(result.statusCode, { 'Content-Type': result.contentType || 'text/plain' });
    res.end(typeof result.response === 'string' ? result.response
      : Buffer.from(result.response.buffer, result.response.byteOffset,
                    result.response.byteLength));
  });

  server.listen(0, '127.0.0.1', async () => {
    const url = `http://127.0.0.1:${server.address().port}`;
    const tlogKey = newKeyPair();
    rekor = mock.rekorHandler(await mock.initializeTLog(url, tlogKey));
    const { trustedRoot, clientTrustConfig } = trustConfig(url, ca, ctlog, ctKey, tlogKey, tsa);
    const out = args['config-out'];
    fs.mkdirSync(out, { recursive: true });
    const trustConfigPath = path.join(out, 'trust_config.json');
    const trustedRootPath = path.join(out, 'trusted_root.json');
    fs.writeFileSync(trustedRootPath, `${JSON.stringify(trustedRoot, null, 2)}\n`);
    fs.writeFileSync(trustConfigPath, `${JSON.stringify(clientTrustConfig, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify({ url, trustConfig: trustConfigPath,
                                             trustedRoot: trustedRootPath })}\n`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  process.stderr.write(`sigstore mock failed to start: ${e && e.stack}\n`);
  process.exit(1);
});
